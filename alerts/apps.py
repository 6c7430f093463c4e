from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from alerts import receivers
        from jobs.signals import job_auto_disabled, job_enabled, run_finished
        from monitoring.signals import health_changed

        run_finished.connect(receivers.on_run_finished, dispatch_uid="alerts.run_finished")
        job_auto_disabled.connect(
            receivers.on_job_auto_disabled, dispatch_uid="alerts.job_auto_disabled"
        )
        job_enabled.connect(receivers.on_job_enabled, dispatch_uid="alerts.job_enabled")
        health_changed.connect(receivers.on_health_changed, dispatch_uid="alerts.health_changed")
