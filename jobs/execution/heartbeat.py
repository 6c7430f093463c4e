"""One heartbeat thread per worker process, serving the runs it executes.

Every JOBS_HEARTBEAT_INTERVAL it renews each run's lease, writes heartbeat_at
(with progress and the output so far, so long runs stream), and checks for a
cancel request. Progress and output changes are flushed sooner, at most once
a second. A long-lived thread keeps one persistent database connection; a
thread per run would open a new PostgreSQL session for every run.

Cancel: the job sees is_cancelled() at once; if it is still running
JOBS_CANCEL_GRACE later it is interrupted like a soft timeout (SIGUSR1 raises
SoftTimeLimitExceeded in the job); if it ignores that too, the run is recorded
as cancelled and the process kills itself (the pool replaces it).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from jobs.execution import lease
from jobs.execution.context import OutputBuffer

logger = logging.getLogger(__name__)

_FLUSH_MIN_INTERVAL = 1.0  # seconds between progress/output writes


@dataclass
class ActiveRun:
    run_id: str
    lease_key: str | None
    output: OutputBuffer
    stderr: OutputBuffer
    progress: float | None = None
    progress_message: str = ""
    cancelled: bool = False
    cancel_seen_at: float | None = None
    interrupted: bool = False
    dirty: bool = False
    last_beat: float = field(default_factory=time.monotonic)
    last_flush: float = field(default_factory=time.monotonic)
    flushed_sizes: tuple[int, int] = (0, 0)
    on_abandon: Callable[[], None] | None = None  # record cancelled before a self-kill

    def set_progress(self, percent: float | None, message: str) -> None:
        self.progress, self.progress_message, self.dirty = percent, message, True
        _HEARTBEAT.wake()

    def beat(self) -> None:
        self.last_beat = 0.0  # due now
        _HEARTBEAT.wake()

    def is_cancelled(self) -> bool:
        return self.cancelled


class Heartbeat:
    def __init__(self) -> None:
        self._runs: dict[str, ActiveRun] = {}
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def register(self, active: ActiveRun) -> None:
        with self._lock:
            self._runs[active.run_id] = active
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._loop, name="jobwarden-heartbeat", daemon=True
                )
                self._thread.start()

    def unregister(self, active: ActiveRun) -> None:
        with self._lock:
            self._runs.pop(active.run_id, None)

    def wake(self) -> None:
        self._event.set()

    def _loop(self) -> None:
        while True:
            self._event.wait(timeout=0.5)
            self._event.clear()
            with self._lock:
                runs = list(self._runs.values())
            for active in runs:
                try:
                    self._service(active)
                except Exception:
                    logger.exception("heartbeat for run %s failed", active.run_id)
                    close_old_connections()
                    connection.close()

    def _service(self, active: ActiveRun) -> None:
        now = time.monotonic()
        beat_due = now - active.last_beat >= settings.JOBS_HEARTBEAT_INTERVAL
        sizes = (active.output.chunks, active.stderr.chunks)
        changed = active.dirty or sizes != active.flushed_sizes
        if beat_due:
            active.last_beat = now
            if active.lease_key:
                lease.renew(active.lease_key, active.run_id)
            if not active.cancelled and lease.cancel_requested(active.run_id):
                active.cancelled, active.cancel_seen_at = True, now
        if beat_due or (changed and now - active.last_flush >= _FLUSH_MIN_INTERVAL):
            self._flush(active, sizes)
        if active.cancelled and active.cancel_seen_at is not None:
            self._enforce_cancel(active, now)

    def _flush(self, active: ActiveRun, sizes: tuple[int, int]) -> None:
        from jobs.models import JobRun, RunStatus

        fields = {"heartbeat_at": timezone.now()}
        if active.dirty:
            fields.update(progress=active.progress, progress_message=active.progress_message)
        if sizes != active.flushed_sizes:
            fields.update(output=active.output.getvalue(), stderr=active.stderr.getvalue())
        active.dirty, active.flushed_sizes, active.last_flush = False, sizes, time.monotonic()
        JobRun.objects.filter(pk=active.run_id, status=RunStatus.RUNNING).update(**fields)

    def _enforce_cancel(self, active: ActiveRun, now: float) -> None:
        waited = now - (active.cancel_seen_at or now)
        grace = settings.JOBS_CANCEL_GRACE
        if waited >= grace and not active.interrupted and _soft_interrupt_available():
            active.interrupted = True
            logger.warning(
                "run %s ignored cancel for %.0fs; interrupting it", active.run_id, waited
            )
            os.kill(os.getpid(), signal.SIGUSR1)
        elif waited >= 2 * grace or (waited >= grace and not _soft_interrupt_available()):
            logger.error("run %s did not stop after cancel; terminating its process", active.run_id)
            if active.on_abandon:
                active.on_abandon()
            os.kill(os.getpid(), signal.SIGKILL)


def _soft_interrupt_available() -> bool:
    # Celery's prefork children turn SIGUSR1 into SoftTimeLimitExceeded.
    handler = signal.getsignal(signal.SIGUSR1)
    return callable(handler)


_HEARTBEAT = Heartbeat()


def heartbeat() -> Heartbeat:
    return _HEARTBEAT
