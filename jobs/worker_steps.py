"""Celery worker bootsteps Jobwarden adds (registered in config/celery.py).

RemoteControlGuard: anyone who can write to the broker can broadcast
Celery's remote-control commands to every worker: terminate any run (then
recorded as cancelled, with no audit record and no role checked), shut
workers down, restart or shrink their pools, change rate and time limits,
stop them consuming a queue. Jobwarden itself sends one of them: the
sweeper's revoke of a running run whose cancel was requested (and ignored).
So a worker answers inspection commands (ping, stats, active, ...: Flower's
views, `jobs` health), and revoke/terminate only for runs whose cancel is
recorded in the database; every other command is refused and logged,
unless JOBS_WORKER_REMOTE_CONTROL is on.

TimerCompaction: every run carries a soft time limit, so the worker's main
process puts a timer in its event loop's heap for each run it starts. When
the run ends first, the timer is only marked cancelled and stays in the heap
until the limit would have passed: at 100 runs/s with the default 20-minute
timeout that is 120,000 dead entries, tens of MB, in every worker (Celery
issues #1129, #5200). The step drops them once they are most of the heap.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from celery import bootsteps
from celery.utils.functional import maybe_list

logger = logging.getLogger(__name__)

COMPACT_EVERY = 60.0  # seconds
_MIN_DEAD = 1000  # below this, a pass is not worth a heap rebuild


def timer_compact(timer: Any) -> int:
    """Drop cancelled entries from a kombu Timer's heap, in place (the
    timer's own iterator holds the same list). Returns how many it dropped."""
    queue = timer._queue
    live = [item for item in queue if not item.entry.canceled]
    dead = len(queue) - len(live)
    if dead < _MIN_DEAD or dead < len(live):
        return 0
    heapq.heapify(live)
    queue[:] = live
    return dead


class TimerCompaction(bootsteps.StartStopStep):
    requires = ("celery.worker.components:Hub",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        self.tref: Any = None

    def start(self, worker: Any) -> None:
        hub = getattr(worker, "hub", None)
        if hub is None:  # no event loop (solo/threads pools): no time-limit timers
            return
        self.tref = hub.call_repeatedly(COMPACT_EVERY, self._compact, hub.timer)

    def stop(self, worker: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    @staticmethod
    def _compact(timer: Any) -> None:
        dropped = timer_compact(timer)
        if dropped:
            logger.debug("dropped %d cancelled timers from the worker's event loop", dropped)


# Control commands that change nothing a run depends on.
_HARMLESS_CONTROL = frozenset({"heartbeat", "election"})
_REVOKES = frozenset({"revoke", "terminate"})


class RemoteControlGuard(bootsteps.Step):
    def __init__(self, worker: Any, **kwargs: Any) -> None:
        from celery.worker.control import Panel
        from django.conf import settings

        if not settings.JOBS_WORKER_REMOTE_CONTROL:
            control_guard(Panel.data, Panel.meta)


def control_guard(handlers: dict[str, Callable[..., Any]], meta: dict[str, Any]) -> None:
    """Replace, in place, the handlers of the commands that change a worker
    (the worker's mailbox reads this very dict). Idempotent."""
    for name, info in meta.items():
        handler = handlers.get(name)
        if (
            handler is None
            or getattr(handler, "jobwarden_guarded", False)
            or info.type == "inspect"
            or name in _HARMLESS_CONTROL
        ):
            continue
        guarded = _cancelled_runs_only(handler, name) if name in _REVOKES else _refused(name)
        guarded.jobwarden_guarded = True  # type: ignore[attr-defined]
        handlers[name] = guarded


def _refused(name: str) -> Callable[..., Any]:
    def refuse(state: Any, **kwargs: Any) -> dict[str, str]:
        logger.warning(
            "refused remote-control command %r (%.200r): JOBS_WORKER_REMOTE_CONTROL is off",
            name,
            kwargs,
        )
        return {"error": f"{name} refused: this worker accepts no remote control"}

    return refuse


def _cancelled_runs_only(handler: Callable[..., Any], name: str) -> Callable[..., Any]:
    @wraps(handler)
    def revoke(state: Any, task_id: Any = None, **kwargs: Any) -> Any:
        from jobs.selectors import runs_cancel_requested

        ids = [str(i) for i in maybe_list(task_id) or []]
        allowed = runs_cancel_requested(ids)
        refused = [i for i in ids if i not in allowed]
        if refused:
            logger.warning(
                "refused remote-control %s of %s: no cancel recorded for it "
                "(cancel runs through Jobwarden)",
                name,
                ", ".join(refused[:20]),
            )
        if not allowed:
            return {"error": f"{name} refused: no cancel recorded for {', '.join(ids[:20])}"}
        return handler(state, task_id=sorted(allowed), **kwargs)

    return revoke
