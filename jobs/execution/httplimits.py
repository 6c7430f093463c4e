"""Bounds on one outgoing HTTP exchange that requests does not give: a total
deadline and a cap on the body read. Shared by HTTP jobs
(jobs.execution.httpcall) and webhook/chat deliveries (alerts.channels.http).

requests' `timeout` bounds each socket operation, not the exchange: a server
that sends one byte every few seconds (headers or body) holds the caller for
as long as it likes. A `Deadline` is a watchdog timer: when it fires it shuts
down every socket opened under it (the guarded connections of
jobs.execution.netguard register theirs), so the blocked read returns at once
and the caller reports a timeout. The TLS handshake is the one phase it cannot
reach (the socket is being wrapped); there each read is still bounded by the
connect timeout, which callers set to the time left.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import requests
import urllib3

CHUNK = 64 * 1024
_local = threading.local()


class DeadlineExceeded(Exception):
    """The whole exchange took longer than its deadline."""


class BodyTooLarge(Exception):
    """The answer is bigger than the caller agreed to read. `declared`: its
    Content-Length when that alone gave it away (nothing was read)."""

    def __init__(self, message: str, declared: int | None = None):
        super().__init__(message)
        self.declared = declared


class Deadline:
    """`with Deadline(10) as d:` every socket connected inside the block is
    shut down 10 s after it began. Check `d.expired` (or call `d.check()`) in
    the error path and after reading: a body cut short by the watchdog can
    look complete to the HTTP client."""

    def __init__(self, seconds: float):
        self.seconds = max(float(seconds), 0.001)
        self.at = time.monotonic() + self.seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(self.seconds, self._expire)
        self._timer.daemon = True
        self._previous: Deadline | None = None

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def check(self) -> None:
        if self.expired or self.remaining() <= 0:
            raise DeadlineExceeded(f"no complete answer within {self.seconds:g}s")

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)

    def __enter__(self) -> Deadline:
        self._previous = getattr(_local, "deadline", None)
        _local.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._timer.cancel()
        _local.deadline = self._previous
        with self._lock:
            self._sockets.clear()


def watch_socket(sock: socket.socket) -> None:
    """Put a newly connected socket under the deadline of the current thread's
    `with Deadline(...)` block, if any (called by the guarded connections)."""
    deadline = getattr(_local, "deadline", None)
    if deadline is not None:
        deadline.watch(sock)


def _shutdown(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for an SSLSocket: it wakes a read
    # blocked in another thread without touching the TLS object that read uses.
    # OSError: already closed, or detached while being wrapped in TLS.
    with suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def read_capped(
    response: Any,
    max_bytes: int,
    deadline: Deadline,
    *,
    truncate: bool = False,
    on_chunk: Callable[[], None] | None = None,
) -> bytes:
    """Read a streamed requests response: at most `max_bytes`, within the
    deadline. Past the cap: BodyTooLarge, or (with `truncate`) the first
    `max_bytes` and the rest left unread. DeadlineExceeded when time is up.
    Always closes the response."""
    try:
        length = response.headers.get("Content-Length")
        if not truncate and length and length.isdigit() and int(length) > max_bytes:
            raise BodyTooLarge(
                f"response of {length} bytes exceeds the limit of {max_bytes}", int(length)
            )
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(min(CHUNK, max_bytes + 1)):
                deadline.check()
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    if truncate:
                        return b"".join(chunks)[:max_bytes]
                    raise BodyTooLarge(
                        f"response exceeds the limit of {max_bytes} bytes; stopped reading"
                    )
                if on_chunk is not None:
                    on_chunk()
        except (OSError, ValueError, requests.RequestException, urllib3.exceptions.HTTPError):
            deadline.check()  # the watchdog closed the socket: say so
            raise
        deadline.check()
        return b"".join(chunks)
    finally:
        response.close()
