"""Who writes the run journal to the database on a worker host.

Each worker's main process starts one journal writer: a separate process
(`python -m jobs.journal_writer`) that drains the journal every
JOBS_RUNLOG_FLUSH_INTERVAL. Why a process of its own: a drain done by a
worker child keeps that child from its next run for the whole batch, and one
done by a thread of the main process competes for the lock (GIL) of the loop
that dispatches every message. Beside both it runs in parallel, and its
batches are larger, so each run costs less to write.

The main process keeps a thread (Flusher) as the backstop: it restarts a
writer that died, and flushes a journal that nobody drained for a poll
(a quarter second, or the flush interval if longer) with nothing added
(idle) or for a second (the writer is down or disabled). A worker child
still drains the journal itself once JOBS_RUNLOG_BATCH_MIN events wait
(the writer has fallen behind). Every
flusher takes the journal's lock, so they never apply a batch twice, and
one that dies loses nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from django.conf import settings

# No model imports at module level: `python -m jobs.journal_writer` runs
# this file before Django is set up.

logger = logging.getLogger(__name__)

_RESTART_AFTER = 5.0  # seconds between restarts of a writer that keeps dying
_BACKSTOP_POLL = 0.25  # seconds between the main process's looks at the journal


class Flusher:
    """The worker main process's side: a thread that supervises the journal
    writer process and flushes what the writer leaves (see module doc)."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.writer: subprocess.Popen | None = None
        self._writer_started = -_RESTART_AFTER

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="jobwarden-runlog", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 20.0) -> None:
        # covers the writer's own last drain (up to 10 s), then this one's
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _supervise_writer(self) -> None:
        if not settings.JOBS_RUNLOG_WRITER:
            return
        if self.writer is not None and self.writer.poll() is None:
            return
        if time.monotonic() - self._writer_started < _RESTART_AFTER:
            return
        if self.writer is not None:
            logger.warning("run journal writer exited with %s; restarting", self.writer.returncode)
        self._writer_started = time.monotonic()
        # Same interpreter and environment as this worker: same settings.
        self.writer = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [sys.executable, "-m", "jobs.journal_writer", str(os.getpid())],
            stdin=subprocess.DEVNULL,
            # The worker's own directory: where its settings module imports
            # from (Jobwarden's `config`, or a host project's own package).
            cwd=os.getcwd(),
            # Its own process group: a Ctrl-C at the terminal reaches the
            # worker, which stops the writer itself at shutdown (a writer that
            # got the Ctrl-C too exited first and was restarted, with a
            # warning). Not its own session: with the kernel's autogroup
            # scheduling a session is a CPU group of its own, and the writer
            # took a fair share against the whole worker, nice or not
            # (measured: ratio 0.72 -> 0.65).
            process_group=0,
        )

    def _stop_writer(self) -> None:
        writer, self.writer = self.writer, None
        if writer is None or writer.poll() is not None:
            return
        writer.send_signal(signal.SIGTERM)  # it drains once more, then exits
        try:
            writer.wait(10)
        except subprocess.TimeoutExpired:
            writer.kill()
            writer.wait()

    def _loop(self) -> None:
        from django.db import connection

        from jobs import runlog

        # A backstop need not look as often as the writer drains: every
        # wakeup of this thread takes the lock of the loop dispatching runs.
        interval = max(settings.JOBS_RUNLOG_FLUSH_INTERVAL, _BACKSTOP_POLL)
        seen: tuple[bytes | None, int] = (None, 0)
        stuck = 0.0
        while not self._stop.wait(interval):
            try:
                self._supervise_writer()
                # Flush what nobody drained for a whole interval in which
                # nothing was added (idle), or for a second. This thread
                # shares the process that dispatches every message, so under
                # load it leaves the draining to the writer.
                now = runlog.peek()
                same_head = now[0] is not None and now[0] == seen[0]
                stuck = stuck + interval if same_head else 0.0
                if same_head and (now[1] == seen[1] or stuck >= 1.0):
                    runlog.flush(wait=False)
                    now, stuck = runlog.peek(), 0.0
                seen = now
            except Exception:
                logger.exception("run journal flush failed; retrying")
                connection.close()
        self._stop_writer()
        _flush_logged(final=True)
        connection.close()


flusher = Flusher()


def drain_until_stopped(
    stopped: Callable[[], bool], *, interval: float | None = None, sleep=time.sleep
) -> int:
    """The writer's loop: drain the journal every `interval` until
    `stopped()`, then once more. Returns how many events it wrote."""
    interval = settings.JOBS_RUNLOG_FLUSH_INTERVAL if interval is None else interval
    total = 0
    while not stopped():
        total += _flush_logged()
        sleep(interval)  # a batch gathers meanwhile
    return total + _flush_logged(final=True)


def _flush_logged(*, final: bool = False) -> int:
    """A flush that logs a failure instead of raising: what it could not
    write stays in the journal for the next one. `final` waits for a flush
    in progress elsewhere (a process about to exit)."""
    from django.db import connection

    from jobs import runlog

    try:
        return runlog.flush(wait=True, timeout=5) if final else runlog.flush(wait=False)
    except Exception:
        logger.exception("run journal flush failed; the next flush applies it")
        connection.close()
        return 0


def main(argv: list[str]) -> int:
    """`python -m jobs.journal_writer PARENT_PID`: runs until SIGTERM/SIGINT
    or until its parent (the worker's main process) is gone."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    django.setup()
    # Lower priority: the writer's work fits in the gaps the runs leave;
    # measured on 2 busy cores, it raised tracked throughput by about 8%.
    os.nice(settings.JOBS_RUNLOG_WRITER_NICE)
    parent = int(argv[0]) if argv else os.getppid()
    stopping = threading.Event()

    def on_signal(signum, frame):
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    drain_until_stopped(
        lambda: stopping.is_set() or os.getppid() != parent,
        sleep=lambda seconds: stopping.wait(seconds),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
