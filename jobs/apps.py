from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        # Celery signal receivers live in one module; importing it connects them.
        from jobs import checks, recording  # noqa: F401
