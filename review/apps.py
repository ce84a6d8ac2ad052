from django.apps import AppConfig


class ReviewConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "review"
    verbose_name = "Adjuster review"

    def ready(self) -> None:
        # Register the app's Celery tasks in every process, the web one included: its
        # services send them by name (`current_app.tasks[...]`), not by importing them.
        from review import tasks  # noqa: F401
