from django.apps import AppConfig


class LearningConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "learning"
    verbose_name = "Model lifecycle"

    def ready(self) -> None:
        # Register the app's Celery tasks in every process, the web one included: its
        # services send them by name (`current_app.tasks[...]`), not by importing them.
        from learning import tasks  # noqa: F401
