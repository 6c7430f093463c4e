"""Celery signal receivers: the one place a run's state changes are recorded.

- task_prerun  (worker child): claim the queued run → running (or skipped).
- task_postrun (worker child): the attempt's outcome → final state, retry.
- task_failure (worker parent): a hard time limit or a lost child — the child
  cannot write any more, so the parent records timed_out / orphaned.
- task_revoked (worker parent): a terminated run → cancelled.
- worker_ready: runs this worker left running before a restart → orphaned;
  the worker's run journal writer starts (worker_shutdown: final flush).
Each receiver calls one service in jobs.services.
"""

from __future__ import annotations

import logging
import os

from billiard.exceptions import WorkerLostError
from celery.exceptions import TimeLimitExceeded
from celery.signals import (
    task_failure,
    task_postrun,
    task_prerun,
    task_revoked,
    worker_ready,
    worker_shutdown,
)
from django.db import connections

from jobs import signing
from jobs.models import RunStatus
from jobs.tasks import EXECUTE_TASK

logger = logging.getLogger(__name__)


@task_prerun.connect
def record_run_start(sender=None, task_id=None, task=None, kwargs=None, **_):
    if task is None or task.name != EXECUTE_TASK:
        return
    from jobs.services.runs import run_start

    try:
        kwargs = kwargs or {}
        task.request.jobwarden_claim = run_start(
            task_id,
            worker=task.request.hostname or "",
            pid=os.getpid(),
            job_id=kwargs.get("job_id"),
            message=kwargs.get("run"),
            sent=kwargs.get("sent"),
            signature=getattr(task.request, signing.HEADER, None),
        )
    except Exception:
        logger.exception("could not claim run %s", task_id)
        task.request.jobwarden_claim = None
        raise


@task_postrun.connect
def record_run_end(sender=None, task_id=None, task=None, retval=None, **_):
    if task is None or task.name != EXECUTE_TASK:
        return
    claim = getattr(task.request, "jobwarden_claim", None)
    if claim is None or not claim.claimed:
        return
    from jobs.services.runs import Outcome, run_finish

    outcome = getattr(task.request, "jobwarden_outcome", None)
    if not isinstance(outcome, Outcome):  # the body itself crashed
        got = outcome if outcome is not None else retval
        outcome = Outcome(status=RunStatus.FAILED, error=f"internal error: {got!r}")
    run_finish(claim, outcome)


@task_postrun.connect
def close_broken_connections(**_):
    # Connections persist across tasks (CELERY_DB_REUSE_MAX); one that saw an
    # error is checked and replaced here, so one bad moment does not poison
    # every later run of this process.
    for conn in connections.all(initialized_only=True):
        if conn.errors_occurred:
            conn.close_if_unusable_or_obsolete()


@task_failure.connect
def record_run_lost(sender=None, task_id=None, exception=None, **_):
    if sender is None or getattr(sender, "name", None) != EXECUTE_TASK:
        return
    from jobs.services.sweeping import run_mark_lost

    if isinstance(exception, TimeLimitExceeded):
        run_mark_lost(
            task_id,
            RunStatus.TIMED_OUT,
            f"timed out: killed after the hard time limit ({exception})",
        )
    elif isinstance(exception, WorkerLostError):
        run_mark_lost(task_id, RunStatus.ORPHANED, f"worker process lost: {exception}")


@task_revoked.connect
def record_run_revoked(sender=None, request=None, terminated=False, **_):
    if request is None or getattr(sender, "name", None) != EXECUTE_TASK or not terminated:
        return
    from jobs.services.sweeping import run_mark_lost

    run_mark_lost(request.id, RunStatus.CANCELLED, "cancelled; worker terminated the run")


@worker_ready.connect
def recover_runs_of_this_worker(sender=None, **_):
    from jobs.journal_writer import flusher
    from jobs.services.sweeping import runs_recover_worker

    runs_recover_worker(sender.hostname)
    flusher.start()


@worker_shutdown.connect
def stop_run_journal_flusher(**_):
    from jobs.journal_writer import flusher

    flusher.stop()
