"""Keeps stored health current after each run, cheaply.

This runs on the per-run path (jobs.signals.run_finished, after commit), so
a success of a job known to be healthy must cost nothing: a process-local
memo remembers healthy jobs for MONITORING_HEALTHY_CACHE_TTL seconds, and
past it one primary-key lookup refreshes the memo. The full re-evaluation
(a handful of small queries for one job) runs only on a failure, a
recovery, a level that is not healthy, or a duration that a cheap check
against the job's live averages flags as possibly anomalous. The periodic
refresh job catches everything else within a minute.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings

from jobs.models import RunStatus
from monitoring.models import HealthLevel, JobHealth

log = logging.getLogger(__name__)

_healthy_until: dict[int, float] = {}  # job id -> monotonic expiry
_NEUTRAL = (RunStatus.SUCCEEDED, RunStatus.SKIPPED, RunStatus.CANCELLED)


def on_run_finished(sender: Any, run: Any, job: Any, **kwargs: Any) -> None:
    try:
        if _still_healthy(run, job, kwargs.get("previous_consecutive_failures")):
            return
        _healthy_until.pop(job.pk, None)
        from monitoring.services import health_refresh_job

        result = health_refresh_job(job.pk)
        if result["levels"].get(HealthLevel.HEALTHY):
            _remember_healthy(job.pk)
    except Exception:  # monitoring must never break the run path
        log.exception("health refresh after run %s failed", getattr(run, "pk", "?"))


def on_job_auto_disabled(sender: Any, job: Any, **kwargs: Any) -> None:
    on_run_finished(
        sender, run=kwargs.get("run"), job=job, previous_consecutive_failures=None, forced=True
    )


def _still_healthy(run: Any, job: Any, previous_failures: int | None) -> bool:
    if run is None or run.status not in _NEUTRAL or previous_failures or job.consecutive_failures:
        return False
    if run.status == RunStatus.SUCCEEDED and _maybe_anomalous(run.duration_ms, job):
        return False
    expiry = _healthy_until.get(job.pk)
    if expiry is not None and expiry > time.monotonic():
        return True
    level = JobHealth.objects.filter(job_id=job.pk).values_list("level", flat=True).first()
    if level == HealthLevel.HEALTHY:
        _remember_healthy(job.pk)
        return True
    return False


def _remember_healthy(job_id: int) -> None:
    if len(_healthy_until) > 10_000:  # bounded: a process never grows without end
        _healthy_until.clear()
    _healthy_until[job_id] = time.monotonic() + settings.MONITORING_HEALTHY_CACHE_TTL


def _maybe_anomalous(duration_ms: int | None, job: Any) -> bool:
    """Cheap stand-ins for the duration rules, from the job row in memory:
    the live average for the median, the job's own limits."""
    if duration_ms is None:
        return False
    if job.min_duration is not None and duration_ms < job.min_duration * 1000:
        return True
    limit = job.expected_max_duration or settings.MONITORING_DEFAULT_EXPECTED_MAX_DURATION
    if duration_ms > limit * 1000:
        return True
    avg = job.avg_duration_ms
    return bool(
        avg
        and job.execution_count >= settings.MONITORING_ANOMALY_MIN_SAMPLES
        and duration_ms > settings.MONITORING_ANOMALY_FACTOR * avg
        and duration_ms - avg >= settings.MONITORING_ANOMALY_MIN_EXCESS * 1000
    )
