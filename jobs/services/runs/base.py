"""What every part of the run path shares: the outcome of an attempt, a
claim, a run's message (enqueue), parameter masking for what is stored."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from jobs import broker, runlog, signing
from jobs.errors import ValidationError
from jobs.models import Job, JobRun, RunStatus

# Redis emulates priorities with extra lists: a message asks only when it differs.
DEFAULT_PRIORITY = Job._meta.get_field("priority").default


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


def masked(job: Job, params: dict[str, Any]) -> dict[str, Any]:
    if not params:
        return {}
    from jobs.params import mask_parameters

    return mask_parameters(job, params)


def overrides_metadata(overrides: dict[str, Any], shown: dict[str, Any]) -> dict[str, Any]:
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


def run_timeout(run: JobRun, job: Job) -> float:
    """Seconds an attempt of `run` may take: its trigger-time override
    (metadata "timeout"), never above the job's own (which may have been
    shortened since the run was queued)."""
    override = (run.metadata or {}).get("timeout")
    return min(float(override), job.timeout) if override else job.timeout


def enqueue(run: JobRun, job: Job, countdown: float | None = None) -> None:
    """Send a recorded run's message, signed. It carries what the worker
    needs to execute the run (the worker does not read it back), and when it
    was sent: a message older than JOBS_CLAIM_MEMORY is checked against the
    database first. Call only for a run already recorded (row or journal)."""
    from jobs.tasks import execute_run_task

    values, sent = runlog.message_values(run), time.time()
    timeout = run_timeout(run, job)
    execute_run_task.apply_async(
        args=[str(run.pk)],
        kwargs={"job_id": job.pk, "run": values, "sent": sent},
        task_id=str(run.pk),
        # The worker executes only a message signed here, from the run as
        # recorded (jobs.signing): not one pushed to the broker by others.
        headers={signing.HEADER: signing.run_message_sign(str(run.pk), job.pk, sent, values)},
        # What Flower and the logs show of the message: the job, not its
        # parameters (Celery would otherwise repr every argument per send).
        argsrepr=f"('{run.pk}',)",
        kwargsrepr=f"{{'job': {job.name!r}, 'attempt': {run.attempt}}}",
        queue=job.queue_name,
        declare=broker.declare_for(job.queue_name),
        priority=job.priority if job.priority != DEFAULT_PRIORITY else None,
        countdown=countdown,
        # Soft limit lets the job clean up; the hard kill follows after the grace.
        soft_time_limit=timeout,
        time_limit=timeout + settings.JOBS_TIMEOUT_GRACE,
    )


def run_requeue(run: JobRun, countdown: float) -> None:
    """Send a queued run's message again (overlap=queue waiting, lost message)."""
    enqueue(run, run.job, countdown=countdown)


def run_end_unstarted(run: JobRun, status: str, *, live: bool = True, **fields: Any) -> str:
    """End a run that never started (skipped, or cancelled while queued)
    with `status`: its final row goes to the journal and its claim is taken
    (holding the status) in one step, so its message is discarded when it
    arrives. `live=False` keeps it out of the job's live state. Returns the
    claim's answer ('ok', or 'taken' if a worker got there first)."""
    row = runlog.row_values(run)
    row.update({"finished_at": timezone.now(), **fields, "status": status})
    extra = {} if live else {"live": False}
    event = runlog.encode("e", run.pk, row, x=[RunStatus.QUEUED], **extra)
    return runlog.claim(run.pk, status, event, ttl=claim_ttl(run.job))


def claim_ttl(job: Job) -> float:
    # A claim outlives any run it could belong to (the hard kill comes at
    # timeout + grace); finish() then keeps it JOBS_CLAIM_MEMORY longer.
    return job.timeout + settings.JOBS_TIMEOUT_GRACE + settings.JOBS_CLAIM_MEMORY
