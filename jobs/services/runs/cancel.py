"""Cancelling a queued or running run."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from jobs import runlog
from jobs.actors import Actor
from jobs.errors import Conflict
from jobs.execution import lease
from jobs.models import JobRun, RunStatus
from jobs.selectors import run_get
from jobs.services.audit import audit_record
from jobs.services.runs.base import run_end_unstarted


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
        taken = run_end_unstarted(
            run,
            RunStatus.CANCELLED,
            live=False,
            finished_at=now,
            cancel_requested_at=now,
            error=note,
        )
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
