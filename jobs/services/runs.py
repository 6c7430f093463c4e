"""The run path: trigger → queued run → claim → finish / retry / cancel.

Every state change of a JobRun is made here; tasks.py and recording.py only
call these. Each transition is a conditional UPDATE on the expected status,
so a late or duplicate writer (a redelivered message, a sweeper, a parent
process recording a hard kill) can never overwrite a final state.
"""

from __future__ import annotations

import logging
import random
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs import runstore
from jobs import schedule as cron
from jobs.actors import Actor
from jobs.errors import Conflict, NotFound, ValidationError
from jobs.execution import lease
from jobs.models import Job, JobRun, RunStatus, RunTrigger
from jobs.runstore import job_cache
from jobs.selectors import run_get
from jobs.services.audit import audit_record
from jobs.signals import run_finished

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
    # The hot path is one INSERT that also checks the job is enabled; the
    # audit record (people only) joins it in one transaction.
    with transaction.atomic() if audited else nullcontext():
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
        transaction.on_commit(lambda: _enqueue(run_id, job))
    run = JobRun(id=run_id, job=job, **values)
    run._state.adding, run._state.db = False, "default"
    return run


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
            transaction.on_commit(lambda: _enqueue(run.pk, job))
    except IntegrityError:
        logger.info(
            "scheduled fire %s of %s already recorded; duplicate dispatch ignored",
            scheduled_for,
            job.name,
        )
        return None
    return run


def _enqueue(run_id: Any, job: Job, countdown: float | None = None) -> None:
    from jobs.tasks import execute_run_task

    execute_run_task.apply_async(
        args=[str(run_id)],
        kwargs={"job_id": job.pk},
        task_id=str(run_id),
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
    _enqueue(run.pk, run.job, countdown=countdown)


# --- cancel -----------------------------------------------------------------


def run_cancel(run_id: str, *, actor: Actor, reason: str = "") -> JobRun:
    """Cancel a queued or running run.

    A queued run is cancelled at once (its message is discarded when it
    arrives). A running run is asked to stop: ctx.is_cancelled() turns true
    within a heartbeat, and the worker terminates it if it has not stopped
    JOBS_CANCEL_GRACE later; it is recorded as cancelled either way. Raises
    NotFound, or Conflict if the run already finished. Audited.
    """
    run = run_get(run_id)
    now = timezone.now()
    with transaction.atomic():
        note = f"cancelled by {actor.name}" + (f": {reason}" if reason else "")
        done = JobRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
            status=RunStatus.CANCELLED, finished_at=now, cancel_requested_at=now, error=note
        )
        if not done:
            done = JobRun.objects.filter(
                pk=run.pk, status=RunStatus.RUNNING, cancel_requested_at__isnull=True
            ).update(cancel_requested_at=now)
            if done:
                transaction.on_commit(lambda: lease.request_cancel(str(run.pk)))
            elif not JobRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).exists():
                run.refresh_from_db()
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


# --- start ------------------------------------------------------------------


def run_start(run_id: str, *, worker: str, pid: int, job_id: int | None = None) -> Claim:
    """Claim a queued run for this worker, enforcing enabled and overlap.

    Returns a Claim: claimed (execute it), wait (overlap=queue, check again
    later), or neither (skipped, cancelled, or a duplicate delivery). The
    happy path is one Redis call (the lease, unless overlap=allow) and one
    UPDATE; the job definition comes from the per-process cache.
    """
    job = job_cache.get(job_id) if job_id else None
    if job is None:  # message without a job id: look the run up
        found = JobRun.objects.select_related("job").filter(pk=run_id).first()
        if found is None:
            return Claim(run=None)
        job = found.job
    key = None
    if job.overlap != "allow":
        key = lease.lease_key(job.pk)
        token = str(run_id)
        if not lease.acquire(key, token):
            current = lease.holder(key) or "another run"
            run = (
                JobRun.objects.select_related("job")
                .filter(pk=run_id, status=RunStatus.QUEUED)
                .first()
            )
            if run is None:
                return Claim(run=None)
            if job.overlap == "queue" and lease.acquire(lease.waiter_key(job.pk), token):
                return Claim(run=run, wait=min(settings.JOBS_HEARTBEAT_INTERVAL, 5.0))
            why = f"job is already running (run {current})"
            if job.overlap == "queue":
                why += " and another run is already waiting"
            _record_unstarted(run, RunStatus.SKIPPED, why)
            return Claim(run=run)
        if job.overlap == "queue":
            lease.release(lease.waiter_key(job.pk), token)

    run = runstore.claim_run(run_id, now=timezone.now(), worker=worker, pid=pid)
    if run is None:
        if key:
            lease.release(key, str(run_id))
        existing = JobRun.objects.select_related("job").filter(pk=run_id).first()
        if existing is not None and existing.status == RunStatus.QUEUED:
            _record_unstarted(existing, RunStatus.SKIPPED, "job is disabled")
        return Claim(run=existing)
    run.job = job_cache.fresh(job, getattr(run, "_job_changed_at", None))
    return Claim(run=run, claimed=True, lease_key=key)


def _record_unstarted(run: JobRun, status: str, reason: str) -> None:
    now = timezone.now()
    done = JobRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
        status=status, finished_at=now, error=reason
    )
    if done:
        run.status, run.finished_at, run.error = status, now, reason
        run_finished.send(
            sender=JobRun,
            run=run,
            job=run.job,
            previous_consecutive_failures=run.job.consecutive_failures,
        )


# --- finish -----------------------------------------------------------------


def run_finish(claim: Claim, outcome: Outcome) -> JobRun | None:
    """Record the end of a claimed attempt and release its lease."""
    try:
        return run_record_end(claim.run, outcome, expected=RunStatus.RUNNING)
    finally:
        if claim.lease_key and claim.run is not None:
            lease.release(claim.lease_key, str(claim.run.pk))


def run_record_end(
    run: JobRun | None, outcome: Outcome, *, expected: str = RunStatus.RUNNING
) -> JobRun | None:
    """Write a run's final state and the job's live state in one transaction.

    A failed attempt that the retry policy allows becomes `retrying` and a new
    run (attempt + 1, linked to the first) is enqueued with backoff and jitter
    after commit. A final failure counts towards auto-disable. Returns None if
    the run was no longer in `expected` state (someone else ended it).
    """
    if run is None:
        return None
    job = run.job
    now = timezone.now()
    started = run.started_at or now
    duration_ms = max(0, int((now - started).total_seconds() * 1000))
    status = outcome.status
    is_failure = status in (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.ORPHANED)
    will_retry = (
        is_failure and not outcome.permanent and job.enabled and run.attempt <= job.max_retries
    )
    if will_retry and status == RunStatus.FAILED:
        # timed_out / orphaned keep their more specific status; the retry run
        # links back to them all the same.
        status = RunStatus.RETRYING
    values: dict[str, Any] = {
        "status": status,
        "finished_at": now,
        "duration_ms": duration_ms,
        "error": (outcome.error or "")[:_MAX_ERROR],
        "traceback": outcome.traceback or "",
        "output": outcome.output,
        "stderr": outcome.stderr,
        "output_truncated": outcome.output_truncated,
    }
    if outcome.result is not None:
        values["result"] = outcome.result
    if outcome.exit_code is not None:
        values["exit_code"] = outcome.exit_code
    if outcome.progress is not None:
        values["progress"] = outcome.progress
        values["progress_message"] = outcome.progress_message[:500]
    if outcome.parameters is not None:
        values["parameters"] = outcome.parameters
    if outcome.metadata:
        values["metadata"] = {**(run.metadata or {}), **outcome.metadata}
    job_sets = _job_live_state(run, status, duration_ms, now, values["error"], final=not will_retry)

    if not is_failure:
        # The common case: one statement on PostgreSQL, no explicit transaction.
        counts = runstore.record_end(run.pk, expected, values, job_sets)
        if counts is None:
            return None
    else:
        with transaction.atomic():
            counts = runstore.record_end(run.pk, expected, values, job_sets)
            if counts is None:
                return None
            job.consecutive_failures = counts[1]
            if will_retry:
                retry_run, delay = _create_retry(run, job, outcome, now, values["error"])
                transaction.on_commit(lambda: _enqueue(retry_run.pk, job, countdown=max(delay, 0)))
            else:
                _maybe_auto_disable(job, run, values["error"])
    for name, value in values.items():
        setattr(run, name, value)
    previous_failures, job.consecutive_failures = counts
    if job_sets:
        job.status, job.last_run_id = status, run.pk
    run_finished.send(
        sender=JobRun,
        run=run,
        job=job,
        previous_consecutive_failures=previous_failures,
        will_retry=will_retry,
    )
    return run


def _job_live_state(
    run: JobRun, status: str, duration_ms: int, now: datetime, error: str, *, final: bool
) -> list[tuple[str, str, list[Any]]]:
    """The job row's SET clauses for a run's end, as expressions over the
    row's current values: concurrent finishes never lose a count."""
    if status == RunStatus.SKIPPED:
        return []
    v = runstore.job_value
    sets: list[tuple[str, str, list[Any]]] = [
        ("status", "%s", [status]),
        ("last_run_id", "%s", [v("last_run_id", run.pk)]),
    ]
    if run.started_at is not None:
        sets += [
            ("last_run_at", "%s", [v("last_run_at", run.started_at)]),
            ("execution_count", "execution_count + 1", []),
            ("last_duration_ms", "%s", [duration_ms]),
            (
                "avg_duration_ms",
                "CASE WHEN avg_duration_ms IS NULL THEN %s "
                "ELSE (avg_duration_ms * execution_count + %s) / (execution_count + 1.0) END",
                [float(duration_ms), float(duration_ms)],
            ),
        ]
    if status == RunStatus.SUCCEEDED:
        sets += [
            ("success_count", "success_count + 1", []),
            ("last_success_at", "%s", [v("last_success_at", now)]),
            ("consecutive_failures", "0", []),
        ]
    elif status in RunStatus.failures():
        sets += [
            ("failure_count", "failure_count + 1", []),
            ("last_failure_at", "%s", [v("last_failure_at", now)]),
            ("last_error", "%s", [error[:2000]]),
        ]
        if final:  # only a failure that will not be retried counts towards auto-disable
            sets.append(("consecutive_failures", "consecutive_failures + 1", []))
    return sets


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


def _create_retry(
    run: JobRun, job: Job, outcome: Outcome, now: datetime, error: str
) -> tuple[JobRun, float]:
    delay = retry_delay(job, run.attempt, outcome.retry_after)
    first = run.first_attempt_id or run.pk
    overrides = run_overrides(run)
    shown = _masked(job, overrides)
    retry = JobRun.objects.create(
        job=job,
        attempt=run.attempt + 1,
        first_attempt_id=first,
        trigger=RunTrigger.RETRY,
        triggered_by="system",
        reason=f"retry {run.attempt} of {job.max_retries} after {outcome.status}: {error[:200]}",
        parameters=_masked(job, {**(job.parameters or {}), **overrides}),
        scheduled_for=now + timedelta(seconds=delay),
        metadata={
            **_overrides_metadata(overrides, shown),
            "source": "retry",
            "retry_delay": round(delay, 3),
        },
    )
    return retry, delay


def _maybe_auto_disable(job: Job, run: JobRun, error: str) -> None:
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
