"""Celery worker bootsteps Jobwarden adds (registered in config/celery.py).

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
from typing import Any

from celery import bootsteps

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
