"""The run path: trigger → queued run → claim → end → retry / cancel.

Every state change of a JobRun is made through here (the worker side via the
run journal, see jobs.runlog); tasks.py, recording.py and the other doors
only call these. A transition applies only from the status it expects, so a
late or duplicate writer (a redelivered message, a sweeper, a parent process
recording a hard kill) can never overwrite a final state.

The package: base (Outcome, Claim, a run's message), trigger, cancel,
attempt (claim and end on a worker), retry. Import from here.
"""

from jobs.services.runs.attempt import run_finish, run_record_end, run_start
from jobs.services.runs.base import (
    Claim,
    Outcome,
    enqueue,
    run_overrides,
    run_requeue,
    run_timeout,
)
from jobs.services.runs.cancel import run_cancel
from jobs.services.runs.retry import create_retry, maybe_auto_disable, retry_delay
from jobs.services.runs.trigger import run_fire_scheduled, run_trigger

__all__ = [
    "Claim",
    "Outcome",
    "create_retry",
    "enqueue",
    "maybe_auto_disable",
    "retry_delay",
    "run_cancel",
    "run_finish",
    "run_fire_scheduled",
    "run_overrides",
    "run_record_end",
    "run_requeue",
    "run_start",
    "run_timeout",
    "run_trigger",
]
