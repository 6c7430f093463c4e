"""The run path: trigger → queued run → claim → finish / retry / cancel.

Every state change of a JobRun is made here; tasks.py and recording.py only
call these. Each transition is a conditional UPDATE on the expected status,
so a late or duplicate writer (a redelivered message, a sweeper, a parent
process recording a hard kill) can never overwrite a final state.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs import runlog, runstore
from jobs import schedule as cron
from jobs.actors import Actor
from jobs.errors import Conflict, NotFound, ValidationError
from jobs.execution import lease
from jobs.models import Job, JobRun, RunStatus, RunTrigger
from jobs.runstore import job_cache
from jobs.selectors import run_get
from jobs.services.audit import audit_record

logger = logging.getLogger(__name__)

# Doors through which a person acts: their triggers are audited. Beat fires
# and code triggers are routine operation, not management.
_AUDITED_SOURCES = {"admin", "api", "cli"}
_MAX_ERROR = 10_000
DEFAULT_PRIORITY = 5


@dataclass
class Outcome:
    """How one attempt ended, as the runner saw it."""

    status: str
    result: Any = None
    error: str = ""
    traceback: str = ""
    output: str = ""
    stderr: str = ""
    output_truncated: bool = False
    exit_code: int | None = None
    progress: float | None = None
    progress_message: str = ""
    parameters: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    permanent: bool = False  # do not retry
    retry_after: float | None = None  # server-requested minimum wait


@dataclass
class Claim:
    """What run_start decided for one delivery of a run's message."""

    run: JobRun | None
    claimed: bool = False
    wait: float | None = None  # overlap=queue: check again after this many seconds
    lease_key: str | None = None


# --- trigger ----------------------------------------------------------------


def run_trigger(
    job_name: str,
    *,
    actor: Actor,
    trigger: str,
    parameters: dict[str, Any] | None = None,
    reason: str = "",
    force: bool = False,
) -> JobRun:
    """Create a queued run and enqueue it when the transaction commits.

    Parameters are merged over the job's defaults. Raises NotFound for an
    unknown job, Conflict for a disabled job unless `force` (the run's trigger
    is then `forced`), ValidationError for bad parameters. Audited when a
    person triggered it (admin, API, CLI).
    """
    if parameters is not None and not isinstance(parameters, dict):
        raise ValidationError(
            "parameters must be an object of name: value", fields={"parameters": "not an object"}
        )
    if trigger not in RunTrigger.values:
        raise ValidationError(f"unknown trigger {trigger!r}", fields={"trigger": "unknown"})
    job = job_cache.by_name(job_name)
    if job is None:
        raise NotFound(f"unknown job {job_name!r}", fields={"job": "not found"})
    overrides = dict(parameters or {})
    shown = _masked(job, overrides)
    values = {
        "trigger": RunTrigger.FORCED if force else trigger,
        "triggered_by": actor.name[:150],
        "reason": reason or "",
        "parameters": _masked(job, {**(job.parameters or {}), **overrides}),
        "metadata": {**_overrides_metadata(overrides, shown), "source": actor.source},
        "queued_at": timezone.now(),
    }
    audited = actor.source in _AUDITED_SOURCES
    if not audited and not force and job.enabled:
        # From code (the volume path): recorded through the run journal, in
        # PostgreSQL within moments; the claim checks again that the job is
        # enabled, so a disable that this process has not seen yet still
        # skips the run.
        run = runlog.make_run({**values, "id": uuid.uuid4(), "job_id": job.pk})
        run.job = job
        row = runlog.row_values(run)
        transaction.on_commit(lambda: _journal_and_enqueue(run, row))
        return run
    # A person's trigger is in PostgreSQL before it is enqueued (they get a
    # run they can look at), with its audit record in the same transaction;
    # the INSERT itself checks the job is enabled.
    with transaction.atomic():
        run_id = runstore.insert_run_if_enabled(job.name, values, force=force)
        if run_id is None:
            _refuse_trigger(job_name)
        if audited:
            audit_record(
                actor=actor,
                action="run.trigger",
                target_type="run",
                target=str(run_id),
                job_name=job.name,
                changes={"parameters": [None, shown]} if overrides else {},
                reason=reason,
            )
        run = JobRun(id=run_id, job=job, **values)
        transaction.on_commit(lambda: enqueue(run, job))
    run._state.adding, run._state.db = False, "default"
    return run


def _journal_and_enqueue(run: JobRun, row: dict[str, Any]) -> None:
    runlog.append(runlog.encode("q", run.pk, row))
    enqueue(run, run.job)


def _masked(job: Job, params: dict[str, Any]) -> dict[str, Any]:
    if not params:
        return {}
    from jobs.params import mask_parameters

    return mask_parameters(job, params)


def _overrides_metadata(overrides: dict[str, Any], shown: dict[str, Any]) -> dict[str, Any]:
    """Trigger-time overrides as kept on the run: masked for every reader; if
    any was secret, the real values travel sealed (encrypted) for the
    attempt and its retries."""
    meta: dict[str, Any] = {"overrides": shown}
    if shown != overrides:
        from jobs.secrets import SecretsUnavailable, encrypt

        try:
            meta["overrides_sealed"] = encrypt(overrides)
        except SecretsUnavailable as exc:
            raise ValidationError(
                f"secret parameter values need JOBS_SECRET_KEYS to be stored: {exc}",
                fields={"parameters": "secret values"},
            ) from None
    return meta


def run_overrides(run: JobRun) -> dict[str, Any]:
    """The real trigger-time overrides of a run (unsealed), for execution."""
    meta = run.metadata or {}
    if meta.get("overrides_sealed"):
        from jobs.secrets import decrypt

        return decrypt(meta["overrides_sealed"], job_name=run.job.name)
    return dict(meta.get("overrides") or {})


def _refuse_trigger(job_name: str) -> None:
    """Why the insert refused: the job is gone, or disabled."""
    job = Job.objects.filter(name=job_name).first()
    if job is None:
        raise NotFound(f"unknown job {job_name!r}", fields={"job": "not found"})
    why = f" ({job.disabled_reason})" if job.disabled_reason else ""
    raise Conflict(
        f"job {job.name!r} is disabled{why}; use force to run it anyway",
        fields={"job": "disabled"},
        code="job_disabled",
    )


def run_fire_scheduled(job_name: str, now: datetime | None = None) -> JobRun | None:
    """Record and enqueue the scheduled fire that is due now, at most once.

    The fire is named by its scheduled instant, and (job, scheduled_for) is
    unique: a second dispatch of the same fire -- a second beat, a redelivered
    message -- finds the row and does nothing.
    """
    now = now or timezone.now()
    job = Job.objects.filter(name=job_name).first()
    if job is None or not job.enabled:
        return None
    if job.is_recurring:
        # Beat may send a fire a little early or late; name the latest fire
        # at or before now (a day back covers any beat outage we catch up on).
        scheduled_for = cron.previous_fire(
            job.cron, job.timezone, now + timedelta(seconds=1), timedelta(days=1)
        )
    else:
        scheduled_for = job.run_at
    if scheduled_for is None:
        return None
    try:
        with transaction.atomic():
            run = JobRun.objects.create(
                job=job,
                trigger=RunTrigger.SCHEDULED,
                triggered_by="system",
                scheduled_for=scheduled_for,
                parameters=dict(job.parameters or {}),
                metadata={"overrides": {}, "source": "beat"},
            )
            next_run_at = cron.next_fire(job.cron, job.timezone, now) if job.is_recurring else None
            Job.objects.filter(pk=job.pk).update(next_run_at=next_run_at)
            transaction.on_commit(lambda: enqueue(run, job))
    except IntegrityError:
        logger.info(
            "scheduled fire %s of %s already recorded; duplicate dispatch ignored",
            scheduled_for,
            job.name,
        )
        return None
    return run


def enqueue(run: JobRun, job: Job, countdown: float | None = None) -> None:
    """Send a run's message. It carries what the worker needs to execute the
    run (the worker does not read it back), and when it was sent: a message
    older than JOBS_CLAIM_MEMORY is checked against the database first."""
    from jobs.tasks import execute_run_task

    execute_run_task.apply_async(
        args=[str(run.pk)],
        kwargs={"job_id": job.pk, "run": runlog.message_values(run), "sent": time.time()},
        task_id=str(run.pk),
        # What Flower and the logs show of the message: the job, not its
        # parameters (Celery would otherwise repr every argument per send).
        argsrepr=f"('{run.pk}',)",
        kwargsrepr=f"{{'job': {job.name!r}, 'attempt': {run.attempt}}}",
        queue=job.queue_name,
        # Redis emulates priorities with extra lists: only ask when it matters.
        priority=job.priority if job.priority != DEFAULT_PRIORITY else None,
        countdown=countdown,
        # Soft limit lets the job clean up; the hard kill follows after the grace.
        soft_time_limit=job.timeout,
        time_limit=job.timeout + settings.JOBS_TIMEOUT_GRACE,
    )


def run_requeue(run: JobRun, countdown: float) -> None:
    """Send a queued run's message again (overlap=queue waiting, lost message)."""
    enqueue(run, run.job, countdown=countdown)


# --- cancel -----------------------------------------------------------------


def run_cancel(run_id: str, *, actor: Actor, reason: str = "") -> JobRun:
    """Cancel a queued or running run.

    A queued run is cancelled at once: its claim is taken as "cancelled", so
    its message is discarded when it arrives. A running run is asked to
    stop: ctx.is_cancelled() turns true within a heartbeat, and the worker
    terminates it if it has not stopped JOBS_CANCEL_GRACE later; it is
    recorded as cancelled either way. Raises NotFound, or Conflict if the
    run already finished. Audited.
    """
    runlog.flush()
    run = run_get(run_id)
    now = timezone.now()
    note = f"cancelled by {actor.name}" + (f": {reason}" if reason else "")
    taken = ""
    if run.status == RunStatus.QUEUED:
        row = runlog.row_values(run)
        row.update(status=RunStatus.CANCELLED, finished_at=now, cancel_requested_at=now, error=note)
        event = runlog.encode("e", run.pk, row, x=[RunStatus.QUEUED], live=False)
        taken = runlog.claim(run.pk, "cancelled", event, ttl=_claim_ttl(run.job))
        runlog.flush()
    with transaction.atomic():
        run.refresh_from_db()
        if run.status == RunStatus.RUNNING and run.cancel_requested_at is None:
            JobRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
                cancel_requested_at=now
            )
            transaction.on_commit(lambda: lease.request_cancel(str(run.pk)))
        elif run.status != RunStatus.RUNNING and not (
            taken == "ok" and run.status == RunStatus.CANCELLED
        ):
            raise Conflict(
                f"run {run.pk} already finished ({run.status})",
                fields={"run": run.status},
                code="run_finished",
            )
        audit_record(
            actor=actor,
            action="run.cancel",
            target_type="run",
            target=str(run.pk),
            job_name=run.job.name,
            reason=reason,
        )
    run.refresh_from_db()
    return run


def _claim_ttl(job: Job) -> float:
    # A claim outlives any run it could belong to (the hard kill comes at
    # timeout + grace); finish() then keeps it JOBS_CLAIM_MEMORY longer.
    return job.timeout + settings.JOBS_TIMEOUT_GRACE + settings.JOBS_CLAIM_MEMORY


# --- start ------------------------------------------------------------------


def run_start(
    run_id: str,
    *,
    worker: str,
    pid: int,
    job_id: int | None = None,
    message: dict[str, Any] | None = None,
    sent: float | None = None,
) -> Claim:
    """Claim a delivered run for this worker, enforcing enabled and overlap.

    Returns a Claim: claimed (execute it), wait (overlap=queue, check again
    later), or neither (skipped, cancelled, or a duplicate delivery). The
    happy path is one Redis call (two with an overlap lease): the run comes
    from its message, the job definition from the per-process cache, checked
    against the version the job's last change published.
    """
    if job_id is None or message is None:  # a message from an older release
        return _start_from_database(run_id, worker=worker, pid=pid)
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
            _record_unstarted(run, RunStatus.SKIPPED, why)
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
            ttl=_claim_ttl(job),
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
    if taken != "ok":
        if key:
            lease.release(key, str(run_id))
        if taken == "disabled":
            _record_unstarted(run, RunStatus.SKIPPED, "job is disabled")
        return Claim(run=None)
    run.job = job
    for name, value in started.items():
        setattr(run, name, value)
    run.status = RunStatus.RUNNING
    return Claim(run=run, claimed=True, lease_key=key)


def _start_from_database(run_id: str, *, worker: str, pid: int) -> Claim:
    found = JobRun.objects.select_related("job").filter(pk=run_id).first()
    if found is None:
        runlog.flush()
        found = JobRun.objects.select_related("job").filter(pk=run_id).first()
    if found is None or found.status != RunStatus.QUEUED:
        return Claim(run=None)
    return run_start(
        run_id,
        worker=worker,
        pid=pid,
        job_id=found.job_id,
        message=runlog.message_values(found),
        sent=time.time(),  # just checked: still queued
    )


def _record_unstarted(run: JobRun, status: str, reason: str) -> None:
    """End a run that never started (skipped): its claim is taken, so a
    second delivery of it is discarded too."""
    row = runlog.row_values(run)
    row.update(status=status, finished_at=timezone.now(), error=reason)
    event = runlog.encode("e", run.pk, row, x=[RunStatus.QUEUED])
    runlog.claim(run.pk, status, event, ttl=_claim_ttl(run.job))


# --- finish -----------------------------------------------------------------


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
    event = _end_event(run, outcome, expected=(expected,))
    runlog.append(event)
    runlog.flush()
    finished_at = runlog.decode(event)["v"]["finished_at"]
    ended = JobRun.objects.select_related("job").filter(pk=run.pk).first()
    if ended is None or ended.finished_at != finished_at:
        return None
    return ended


def _end_event(run: JobRun, outcome: Outcome, *, expected: tuple[str, ...]) -> str:
    """The `e` journal event for an attempt's outcome: the run's whole final
    row. The retry decision is made when it is applied (jobs.services.journal),
    against the job as it is then."""
    now = timezone.now()
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
    return max(delay, 0.0)


def create_retry(
    run: JobRun, job: Job, retry_after: float | None, now: datetime, error: str
) -> tuple[JobRun, float]:
    """The next attempt of a failed run, with its backoff delay."""
    delay = retry_delay(job, run.attempt, retry_after)
    first = run.first_attempt_id or run.pk
    overrides = run_overrides(run)
    shown = _masked(job, overrides)
    retry = JobRun.objects.create(
        job=job,
        attempt=run.attempt + 1,
        first_attempt_id=first,
        trigger=RunTrigger.RETRY,
        triggered_by="system",
        reason=f"retry {run.attempt} of {job.max_retries} after {run.status}: {error[:200]}",
        parameters=_masked(job, {**(job.parameters or {}), **overrides}),
        scheduled_for=now + timedelta(seconds=delay),
        metadata={
            **_overrides_metadata(overrides, shown),
            "source": "retry",
            "retry_delay": round(delay, 3),
        },
    )
    return retry, delay


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
