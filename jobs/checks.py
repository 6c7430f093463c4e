"""Cross-setting rules, checked at start-up (`manage.py check`, worker, beat)."""

from django.conf import settings
from django.core.checks import Error, Tags, register

from jobs import secrets as _secrets  # noqa: F401  (registers the secret-key checks)


@register(Tags.compatibility, deploy=False)
def visibility_timeout_exceeds_job_timeouts(app_configs, **kwargs):
    """Redis re-delivers an unacknowledged message after the visibility
    timeout; if a job may run longer, a second worker would start it again."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    longest = settings.JOBS_MAX_TIMEOUT + settings.JOBS_TIMEOUT_GRACE
    errors = []
    if visibility <= longest:
        errors.append(
            Error(
                f"CELERY_VISIBILITY_TIMEOUT ({visibility:.0f}s) must exceed JOBS_MAX_TIMEOUT + "
                f"JOBS_TIMEOUT_GRACE ({longest:.0f}s), or long jobs are delivered twice.",
                id="jobs.E001",
            )
        )
    if settings.JOBS_LEASE_TTL <= 2 * settings.JOBS_HEARTBEAT_INTERVAL:
        errors.append(
            Error(
                f"JOBS_LEASE_TTL ({settings.JOBS_LEASE_TTL:.0f}s) must exceed twice "
                f"JOBS_HEARTBEAT_INTERVAL ({settings.JOBS_HEARTBEAT_INTERVAL:.0f}s), or a live "
                "holder can lose its lease between two renewals.",
                id="jobs.E002",
            )
        )
    if settings.JOBS_ORPHAN_AFTER <= settings.JOBS_LEASE_TTL:
        errors.append(
            Error(
                "JOBS_ORPHAN_AFTER must exceed JOBS_LEASE_TTL: a run is orphaned only after its "
                "lease has certainly expired.",
                id="jobs.E003",
            )
        )
    return errors


@register(Tags.security, deploy=False)
def job_queues_are_not_internal_keys(app_configs, **kwargs):
    """A job publishes to its queue: a queue named like a broker-internal or
    Jobwarden key in the same Redis would write into that key."""
    from jobs.limits import queue_name_problem

    names = [settings.JOBS_DEFAULT_QUEUE, *settings.JOBS_QUEUES]
    return [
        Error(f"JOBS_QUEUES / JOBS_DEFAULT_QUEUE: {problem}", id="jobs.E010")
        for problem in dict.fromkeys(filter(None, map(queue_name_problem, names)))
    ]
