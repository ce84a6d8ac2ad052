from django.apps import AppConfig


class InferenceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "inference"

    def ready(self) -> None:
        # Register the app's Celery tasks in every process, the web one included: its
        # services send them by name (`current_app.tasks[...]`), not by importing them.
        from inference import tasks  # noqa: F401
