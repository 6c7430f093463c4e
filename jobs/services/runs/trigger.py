"""Triggers: a queued run from code, a person, or a scheduled fire."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from jobs import broker, runlog, runstore
from jobs import schedule as cron
from jobs.actors import Actor
from jobs.errors import Conflict, NotFound, ValidationError
from jobs.limits import check_json, check_text, field_error
from jobs.models import Job, JobRun, RunTrigger
from jobs.params.overrides import check_overrides
from jobs.runstore import job_cache
from jobs.services.audit import audit_record
from jobs.services.runs.base import enqueue, masked, overrides_metadata

logger = logging.getLogger(__name__)

# Doors through which a person acts: their triggers are audited. Beat fires
# and code triggers are routine operation, not management.
_AUDITED_SOURCES = {"admin", "api", "cli"}
_TRIGGERS = frozenset(RunTrigger.values)
# Beat may send a fire this much before its instant by the worker's clock.
_FIRE_EARLY = timedelta(seconds=1)


def run_trigger(
    job_name: str,
    *,
    actor: Actor,
    trigger: str,
    parameters: dict[str, Any] | None = None,
    reason: str = "",
    force: bool = False,
    replayed: bool = False,
    timeout: Any = None,
) -> JobRun:
    """Create a queued run and enqueue it when the transaction commits.

    Parameters are merged over the job's defaults. A person (API, admin)
    may override only the job's overridable parameters (jobs.params.overrides);
    `replayed` parameters are a recorded run's own (a retry), not chosen now.
    Raises NotFound for an unknown job, Conflict for a disabled job unless
    `force` (the run's trigger is then `forced`), ValidationError for bad or
    non-overridable parameters, Unavailable when the broker cannot be reached
    (nothing is saved then). Audited when a person triggered it (admin, API,
    CLI). `timeout` (seconds or a duration such as 90s, 5m) shortens this
    run's attempts below the job's own timeout; a larger one is a
    ValidationError.
    """
    if parameters is not None and not isinstance(parameters, dict):
        raise ValidationError(
            "parameters must be an object of name: value", fields={"parameters": "not an object"}
        )
    if trigger not in _TRIGGERS:
        raise ValidationError(f"unknown trigger {trigger!r}", fields={"trigger": "unknown"})
    job = job_cache.by_name(job_name)
    if job is None:
        raise NotFound(f"unknown job {job_name!r}", fields={"job": "not found"})
    # Overrides are stored with the run and sent in its message: bounded like
    # the job's own parameters; the reason like any free text.
    overrides = field_error("parameters", check_json, dict(parameters or {}))
    reason = field_error("reason", check_text, reason or "")
    if overrides and not replayed and _bound_by_overridable(actor):
        # The saved definition, not the per-process cache: a just-narrowed
        # overridable_parameters must hold from the next trigger on.
        check_overrides(Job.objects.filter(name=job.name).first() or job, overrides)
    run_timeout = _run_timeout(job, timeout)
    shown = masked(job, overrides)
    values = {
        "trigger": RunTrigger.FORCED if force else trigger,
        "triggered_by": actor.name[:150],
        "reason": reason or "",
        "parameters": masked(job, {**(job.parameters or {}), **overrides}),
        "metadata": {
            **overrides_metadata(overrides, shown),
            **({"timeout": run_timeout} if run_timeout is not None else {}),
            "source": actor.source,
        },
        "queued_at": timezone.now(),
    }
    audited = actor.source in _AUDITED_SOURCES
    if not audited and not force and job.enabled:
        # From code (the volume path): recorded through the run journal, in
        # PostgreSQL within moments; the claim checks again that the job is
        # enabled, so a disable that this process has not seen yet still
        # skips the run.
        # The queued event carries what differs from the column defaults.
        row = {**values, "id": uuid.uuid4(), "job_id": job.pk}
        run = runlog.make_run(row)
        run.job = job
        if connection.in_atomic_block:
            transaction.on_commit(lambda: _journal_and_enqueue(run, row))
        else:
            # Autocommit: nothing to wait for. (on_commit would connect to
            # the database only to find that out; code triggers need none.)
            _journal_and_enqueue(run, row)
        return run
    # A person's trigger is in PostgreSQL before it is enqueued (they get a
    # run they can look at), with its audit record in the same transaction;
    # the INSERT itself checks the job is enabled. The broker is asked first:
    # a run recorded while it is down would sit queued until the sweeper
    # re-sent it, long after the person gave up on it.
    broker.ensure_reachable()
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


def _run_timeout(job: Job, value: Any) -> float | None:
    """A per-run timeout: at least 1s (like a job's), at most the job's own."""
    if value is None or value == "":
        return None
    from config.env import parse_duration

    try:
        seconds = parse_duration(value)
    except (ValueError, OverflowError) as exc:
        raise ValidationError(f"timeout: {exc}", fields={"timeout": "not a duration"}) from None
    if not 1 <= seconds <= job.timeout:
        raise ValidationError(
            f"timeout must be between 1s and the job's own timeout ({job.timeout:g}s), "
            f"got {seconds:g}s",
            fields={"timeout": "out of range"},
        )
    return seconds


def _bound_by_overridable(actor: Actor) -> bool:
    """People are; code and the machine's operator could change the definition itself."""
    from jobs.services.jobs.permissions import is_trusted_machine

    return actor.source != "code" and not is_trusted_machine(actor)


def _journal_and_enqueue(run: JobRun, row: dict[str, Any]) -> None:
    # The queued event is in Redis before the message, so a worker's start
    # never overtakes it: in the message's own round trip where it can be.
    event = runlog.encode("q", run.pk, row)
    if broker.folds_journal():
        with broker.journal_on_publish(event):
            enqueue(run, run.job)
        return
    runlog.append(event)
    enqueue(run, run.job)


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
    message -- finds the row and does nothing. Only a fire the job's recorded
    schedule makes due is recorded (at or after its next_run_at, not in the
    future), so a fire message that beat did not send (pushed to the broker,
    or by Flower) cannot run a job early; it is logged and ignored.
    """
    now = now or timezone.now()
    job = Job.objects.filter(name=job_name).first()
    if job is None or not job.enabled:
        return None
    if job.is_recurring:
        # Beat may send a fire a little early or late; name the latest fire
        # at or before now (a day back covers any beat outage we catch up on).
        scheduled_for = cron.previous_fire(
            job.cron, job.timezone, now + _FIRE_EARLY, timedelta(days=1)
        )
    else:
        scheduled_for = job.run_at
    if scheduled_for is None:
        return None
    if not _fire_is_due(job, scheduled_for, now):
        logger.warning(
            "scheduled fire of %r ignored: not due (fire %s, next recorded fire %s, now %s); "
            "a duplicate dispatch, or a message beat did not send",
            job.name,
            scheduled_for.isoformat(),
            job.next_run_at.isoformat() if job.next_run_at else None,
            now.isoformat(),
        )
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


def _fire_is_due(job: Job, scheduled_for: datetime, now: datetime) -> bool:
    if scheduled_for > now + _FIRE_EARLY:  # a one-shot job's run_at still ahead
        return False
    if job.is_recurring:
        # next_run_at is the fire the schedule waits for (set when the job
        # was saved, advanced by each fire): an earlier instant is not due.
        return job.next_run_at is not None and job.next_run_at <= scheduled_for
    return True
