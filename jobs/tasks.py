"""Thin Celery tasks: take an id, call one service.

Recording of execute_run_task's start and end happens in jobs.recording
(Celery's task_prerun / task_postrun signals); the body only executes.
"""

from __future__ import annotations

from celery import shared_task

from jobs.execution import runner
from jobs.services import runs, sweeping

EXECUTE_TASK = "jobs.execute_run"


# acks_late: a message is acknowledged only after the run ended, so a worker
# that dies mid-run loses nothing; a redelivery finds the run no longer
# queued and is discarded by the claim.
@shared_task(bind=True, name=EXECUTE_TASK, acks_late=True, ignore_result=True)
def execute_run_task(
    self, run_id: str, job_id: int | None = None, run: dict | None = None, sent: float | None = None
):
    claim = getattr(self.request, "jobwarden_claim", None)
    if claim is None:
        return None
    if claim.wait is not None:
        runs.run_requeue(claim.run, countdown=claim.wait)
        return None
    if not claim.claimed:
        return None
    # Handed to task_postrun through the request, not returned: a return
    # value would be pickled back to the worker's main process for nothing.
    self.request.jobwarden_outcome = runner.execute(claim)
    return None


@shared_task(name="jobs.fire_scheduled", ignore_result=True)
def fire_scheduled_task(job_name: str) -> None:
    runs.run_fire_scheduled(job_name)


@shared_task(name="jobs.sweep", ignore_result=True)
def sweep_task() -> None:
    sweeping.runs_sweep()
