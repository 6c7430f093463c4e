"""One attempt on a worker: its claim (start) and its end, through the run
journal (jobs.runlog); and ending a run for its worker (sweeper, parent)."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from jobs import runlog, signing
from jobs.execution import lease
from jobs.models import JobRun, RunStatus, RunTrigger
from jobs.runstore import job_cache
from jobs.services.runs.base import Claim, Outcome, claim_ttl, run_end_unstarted

logger = logging.getLogger(__name__)

_MAX_ERROR = 10_000


def run_start(
    run_id: str,
    *,
    worker: str,
    pid: int,
    job_id: int | None = None,
    message: dict[str, Any] | None = None,
    sent: float | None = None,
    signature: str | None = None,
) -> Claim:
    """Claim a delivered run for this worker, enforcing enabled and overlap.

    Returns a Claim: claimed (execute it), wait (overlap=queue, check again
    later), or neither (skipped, cancelled, a duplicate delivery, or a
    message Jobwarden did not sign: refused and logged, nothing recorded).
    The happy path is one Redis call (two with an overlap lease): the run
    comes from its message, the job definition from the per-process cache,
    checked against the version the job's last change published.
    """
    if (
        job_id is None
        or message is None
        or not signing.run_message_valid(run_id, job_id, sent, message, signature)
    ):
        # Not sent by Jobwarden for a recorded run: made by someone with
        # access to the broker, altered on the way, or sent by a release
        # before signatures (the sweeper sends a run that is still queued
        # again after JOBS_REQUEUE_AFTER, signed). Nothing is written for it,
        # so a flood of them cannot fill the history or the journal.
        logger.warning(
            "refused run message %.100r for job id %.100r: its signature does not match a run "
            "Jobwarden recorded (forged, altered on the broker, or unsigned); not run",
            run_id,
            job_id,
        )
        return Claim(run=None)
    if sent is None or time.time() - sent >= settings.JOBS_CLAIM_MEMORY:
        # Old enough that an earlier claim of this run may be forgotten:
        # the database says whether it is still waiting.
        runlog.flush()
        status = JobRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
        if status is not None and status != RunStatus.QUEUED:
            return Claim(run=None)
    job = job_cache.get(job_id)
    if job is None:
        return Claim(run=None)
    run = runlog.make_run(
        {
            **runlog.decode_values(dict(message)),
            "id": uuid.UUID(str(run_id)),
            "job_id": job.pk,
            "status": RunStatus.QUEUED,
        }
    )
    run.job = job
    key = None
    if job.overlap != "allow":
        key = lease.lease_key(job.pk)
        token = str(run_id)
        if not lease.acquire(key, token):
            current = lease.holder(key) or "another run"
            if job.overlap == "queue" and lease.acquire(lease.waiter_key(job.pk), token):
                return Claim(run=run, wait=min(settings.JOBS_HEARTBEAT_INTERVAL, 5.0))
            why = f"job is already running (run {current})"
            if job.overlap == "queue":
                why += " and another run is already waiting"
            run_end_unstarted(run, RunStatus.SKIPPED, error=why)
            return Claim(run=None)
        if job.overlap == "queue":
            lease.release(lease.waiter_key(job.pk), token)

    now = timezone.now()
    started = {"started_at": now, "heartbeat_at": now, "worker": worker[:255], "pid": pid}
    event = runlog.encode("s", run_id, started)
    forced = run.trigger == RunTrigger.FORCED
    taken = "stale"
    for attempt in range(3):
        expected = runlog.job_version(job.enabled, job.updated_at) if attempt < 2 else ""
        if not expected and not job.enabled and not forced:
            taken = "disabled"  # versions keep moving: the database row decides
            break
        taken = runlog.claim(
            run_id,
            f"{worker}:{pid}",
            event,
            ttl=claim_ttl(job),
            job_id=job.pk,
            expected_version=expected,
            require_enabled=not forced,
        )
        if taken != "stale":
            break
        # The published version differs from the cached definition (an edit,
        # or none published): read the job and publish what it is now.
        job_cache.forget(job.pk)
        fresh = job_cache.get(job.pk)
        if fresh is None:
            taken = "gone"
            break
        job = fresh
        runlog.job_version_publish(job.pk, job.enabled, job.updated_at)
    if job is not run.job:  # re-read above
        run.job = job
    if taken != "ok":
        if key:
            lease.release(key, str(run_id))
        if taken == "disabled":
            run_end_unstarted(run, RunStatus.SKIPPED, error="job is disabled")
        return Claim(run=None)
    for name, value in started.items():
        setattr(run, name, value)
    run.status = RunStatus.RUNNING
    return Claim(run=run, claimed=True, lease_key=key)


def run_finish(claim: Claim, outcome: Outcome) -> None:
    """Record the end of a claimed attempt (journal) and release its lease."""
    run = claim.run
    if run is None:
        return
    try:
        length = runlog.finish(run.pk, _end_event(run, outcome, expected=(RunStatus.RUNNING,)))
    finally:
        if claim.lease_key:
            lease.release(claim.lease_key, str(run.pk))
    runlog.flush_if_due(length)


def run_record_end(
    run: JobRun | None, outcome: Outcome, *, expected: str = RunStatus.RUNNING
) -> JobRun | None:
    """End a run now, for callers other than its worker (a sweeper, a parent
    recording a kill): journal + flush. Returns the run as recorded, or None
    if it was no longer in `expected` state (someone else ended it)."""
    if run is None:
        return None
    now = timezone.now()
    runlog.append(_end_event(run, outcome, expected=(expected,), now=now))
    runlog.flush()
    ended = JobRun.objects.select_related("job").filter(pk=run.pk).first()
    if ended is None or ended.finished_at != now:  # another end came first
        return None
    return ended


def _end_event(
    run: JobRun, outcome: Outcome, *, expected: tuple[str, ...], now: datetime | None = None
) -> str:
    """The `e` journal event for an attempt's outcome: the run's whole final
    row. The retry decision is made when it is applied (jobs.services.journal),
    against the job as it is then."""
    now = now or timezone.now()
    started = run.started_at or now
    row = runlog.row_values(run)
    row.update(
        status=outcome.status,
        finished_at=now,
        duration_ms=max(0, int((now - started).total_seconds() * 1000)),
        error=(outcome.error or "")[:_MAX_ERROR],
        traceback=outcome.traceback or "",
        output=outcome.output,
        stderr=outcome.stderr,
        output_truncated=outcome.output_truncated,
    )
    if outcome.result is not None:
        row["result"] = outcome.result
    if outcome.exit_code is not None:
        row["exit_code"] = outcome.exit_code
    if outcome.progress is not None:
        row["progress"] = outcome.progress
        row["progress_message"] = outcome.progress_message[:500]
    if outcome.parameters is not None:
        row["parameters"] = outcome.parameters
    if outcome.metadata:
        row["metadata"] = {**(run.metadata or {}), **outcome.metadata}
    extra: dict[str, Any] = {"x": list(expected)}
    if outcome.permanent:
        extra["permanent"] = True
    if outcome.retry_after is not None:
        extra["retry_after"] = outcome.retry_after
    return runlog.encode("e", run.pk, row, **extra)
