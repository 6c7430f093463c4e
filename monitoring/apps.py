from django.apps import AppConfig
from django.db.backends.signals import connection_created


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from jobs.signals import job_auto_disabled, run_finished
        from monitoring import receivers

        run_finished.connect(receivers.on_run_finished, dispatch_uid="monitoring.health_after_run")
        job_auto_disabled.connect(
            receivers.on_job_auto_disabled, dispatch_uid="monitoring.health_after_auto_disable"
        )
        connection_created.connect(_sqlite_functions, dispatch_uid="monitoring.sqlite_functions")


def _sqlite_functions(sender, connection, **kwargs) -> None:
    """SQLite lacks regexp_replace, which the error grouping of the statistics
    uses on PostgreSQL; give it the same semantics ('.' matches newlines,
    flag 'g' replaces all) so one SQL text serves both databases."""
    if connection.vendor != "sqlite":
        return
    import re

    def regexp_replace(value, pattern, replacement, flags="") -> str | None:
        if value is None:
            return None
        count = 0 if "g" in (flags or "") else 1
        return re.sub(pattern, replacement, value, count=count, flags=re.DOTALL)

    connection.connection.create_function("regexp_replace", 4, regexp_replace, deterministic=True)
