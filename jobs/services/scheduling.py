"""Keeps django-celery-beat's PeriodicTask rows in step with Job rows."""

from __future__ import annotations

from jobs.models import Job


def schedule_sync(job: Job) -> None:
    """Make beat's entry for `job` match it (create, update, enable/disable,
    delete for non-recurring jobs) and set job.next_run_at. Call inside the
    transaction that changed the job. Beat sees it within
    CELERY_BEAT_MAX_LOOP_INTERVAL seconds, without a restart."""
    raise NotImplementedError
