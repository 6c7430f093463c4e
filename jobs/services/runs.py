"""The run path: trigger → queued run → worker start → finish/retry/cancel.

Every state change of a JobRun is made here (recording.py and tasks.py only
call these). Each function says what it guarantees.
"""

from __future__ import annotations

from typing import Any

from jobs.actors import Actor
from jobs.models import JobRun


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
    unknown job, Conflict for a disabled job unless `force` (then the run's
    trigger is `forced`), ValidationError for bad parameters. Audited.
    """
    raise NotImplementedError


def run_cancel(run_id: str, *, actor: Actor, reason: str = "") -> JobRun:
    """Cancel a queued or running run. A queued run is marked cancelled at
    once; a running one is asked to stop (ctx.is_cancelled()) and is
    terminated after JOBS_CANCEL_GRACE. Raises NotFound, Conflict if the run
    already finished. Audited."""
    raise NotImplementedError
