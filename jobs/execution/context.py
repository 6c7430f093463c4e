"""What a running job sees: its parameters and the run's controls.

A RunContext is built by the runner for one attempt. Progress, heartbeats and
log lines are written to the run row through jobs.services.runs, throttled so
a chatty job cannot turn the per-run path into a write storm.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class RunCancelled(Exception):
    """Raised by ctx.check_cancelled() when an operator cancelled the run."""


class RunSkipped(Exception):
    """Raised by a kind that decides not to execute (e.g. circuit open); the
    run is recorded as skipped with this message as the reason."""


class PermanentFailure(Exception):
    """A failure that retrying cannot fix (bad request, failed expectation):
    the run fails without consuming retries."""


class RetryAfter(Exception):
    """A transient failure with a server-given wait (HTTP 429/503 Retry-After):
    the next attempt waits at least `seconds` (still within max_retries)."""

    def __init__(self, message: str, seconds: float):
        super().__init__(message)
        self.seconds = seconds


class OutputBuffer:
    """Bounded text capture; marks truncation instead of growing without end."""

    MARK = "\n…[output truncated]…\n"

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._parts: list[str] = []
        self._size = 0
        self.truncated = False
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        if not text:
            return
        with self._lock:
            if self.truncated:
                return
            encoded = text.encode("utf-8", "replace")
            room = self.max_bytes - self._size
            if len(encoded) > room:
                self._parts.append(encoded[: max(room, 0)].decode("utf-8", "ignore"))
                self._parts.append(self.MARK)
                self._size = self.max_bytes
                self.truncated = True
                return
            self._parts.append(text)
            self._size += len(encoded)

    @property
    def chunks(self) -> int:
        """How many pieces were written: a cheap "has it changed" marker."""
        return len(self._parts)

    def getvalue(self) -> str:
        with self._lock:
            return "".join(self._parts)


class _RunLogHandler(logging.Handler):
    def __init__(self, buffer: OutputBuffer):
        super().__init__()
        self.buffer = buffer
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.buffer.write(self.format(record) + "\n")
        except Exception:  # logging must never break the job
            self.handleError(record)


@dataclass
class RunContext:
    run_id: str
    job_name: str
    parameters: dict[str, Any]
    attempt: int
    timeout: float
    output: OutputBuffer  # stdout-like text and logger lines
    stderr: OutputBuffer
    # Callbacks into the run path (jobs.execution.runner wires them).
    _report_progress: Callable[[float | None, str], None] = field(
        repr=False, default=lambda p, m: None
    )
    _beat: Callable[[], None] = field(repr=False, default=lambda: None)
    _cancelled: Callable[[], bool] = field(repr=False, default=lambda: False)
    started_monotonic: float = field(default_factory=time.monotonic)
    metadata: dict[str, Any] = field(default_factory=dict)
    job: Any = field(repr=False, default=None)  # the Job row, read-only for kinds
    _logger: logging.Logger | None = field(repr=False, default=None)

    @property
    def logger(self) -> logging.Logger:
        """A logger whose lines are kept with the run (and go to the worker log)."""
        if self._logger is None:
            logger = logging.getLogger(f"jobwarden.run.{self.job_name}.{self.run_id}")
            logger.setLevel(logging.INFO)
            logger.propagate = True
            logger.addHandler(_RunLogHandler(self.output))
            self._logger = logger
        return self._logger

    def close(self) -> None:
        if self._logger is not None:
            for handler in list(self._logger.handlers):
                self._logger.removeHandler(handler)
            # Loggers are cached by name forever; drop ours so memory stays flat.
            logging.Logger.manager.loggerDict.pop(self._logger.name, None)

    def progress(self, percent: float | None, message: str = "") -> None:
        if percent is not None:
            percent = max(0.0, min(100.0, float(percent)))
        self._report_progress(percent, str(message)[:500])

    def heartbeat(self) -> None:
        self._beat()

    def is_cancelled(self) -> bool:
        return self._cancelled()

    def check_cancelled(self) -> None:
        if self.is_cancelled():
            raise RunCancelled("run was cancelled")

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started_monotonic

    @property
    def time_remaining(self) -> float:
        return max(0.0, self.timeout - self.elapsed)
