"""Retries with backoff and jitter, and auto-disable after repeated failures;
both decided when a run's end is applied (jobs.services.journal)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.db import transaction

from jobs.actors import Actor
from jobs.limits import clamp_seconds
from jobs.models import Job, JobRun, RunTrigger
from jobs.services.runs.base import masked, overrides_metadata, run_overrides


def retry_delay(
    job: Job, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """Seconds before retry number `attempt`: exponential backoff, capped, with
    ±jitter so a fleet of failed runs does not retry in lock-step."""
    base = job.retry_delay_for(attempt)
    jitter = job.retry_jitter or 0.0
    delay = base * (rng or random).uniform(1 - jitter, 1 + jitter) if jitter else base
    if retry_after is not None:
        delay = max(delay, retry_after)
    # Clamped: a jitter or Retry-After from a row or response saved before the
    # bounds must not overflow `now + delay` and leave the run unfinished.
    return clamp_seconds(delay)


def create_retry(
    run: JobRun, job: Job, retry_after: float | None, now: datetime, error: str
) -> tuple[JobRun, float]:
    """The next attempt of a failed run, with its backoff delay."""
    delay = retry_delay(job, run.attempt, retry_after)
    first = run.first_attempt_id or run.pk
    overrides = run_overrides(run)
    shown = masked(job, overrides)
    retry = JobRun.objects.create(
        job=job,
        attempt=run.attempt + 1,
        first_attempt_id=first,
        trigger=RunTrigger.RETRY,
        triggered_by="system",
        reason=f"retry {run.attempt} of {job.max_retries} after {run.status}: {error[:200]}",
        parameters=masked(job, {**(job.parameters or {}), **overrides}),
        scheduled_for=now + timedelta(seconds=delay),
        metadata={
            **overrides_metadata(overrides, shown),
            # A per-run timeout holds for every attempt of the run.
            **_carried_timeout(run),
            "source": "retry",
            "retry_delay": round(delay, 3),
        },
    )
    return retry, delay


def _carried_timeout(run: JobRun) -> dict[str, float]:
    timeout = (run.metadata or {}).get("timeout")
    return {"timeout": timeout} if timeout else {}


def maybe_auto_disable(job: Job, run: JobRun, error: str) -> None:
    if not (
        job.enabled
        and job.auto_disable_after
        and job.consecutive_failures >= job.auto_disable_after
    ):
        return
    from jobs.services.jobs import job_disable
    from jobs.signals import job_auto_disabled

    reason = (
        f"auto-disabled after {job.consecutive_failures} consecutive failures (last: {error[:300]})"
    )
    job_disable(job.name, actor=Actor.system(), reason=reason, action="job.auto_disable")
    job.refresh_from_db()
    transaction.on_commit(
        lambda: job_auto_disabled.send(sender=Job, job=job, run=run, reason=reason)
    )
