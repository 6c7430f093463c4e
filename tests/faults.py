"""Real network faults for tests: a TCP proxy a test can cut and restore.

A worker pointed at the proxy loses its database exactly as it would to a
network partition or a restarting server: open connections are dropped and
new ones refused, while the test process itself still reaches the database
directly to look at what happened."""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from pathlib import Path


def _free_port_outside_ephemeral_range() -> int:
    """A free port the kernel will never hand out for an outgoing connection.

    While the proxy is cut its port is unbound; a port from the ephemeral
    range could meanwhile become the local end of some client's connection
    (the worker's own Redis or database sockets), and restore() would then
    fail with EADDRINUSE."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    candidates = list(range(max(1024, low - 12000), low))
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free TCP port below the ephemeral range")


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._drop_reply = threading.Event()
        self.port = _free_port_outside_ephemeral_range()
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener is not None:
            # close() alone leaves the socket listening while the accept
            # thread is blocked in accept(); shutdown() wakes it first.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    close = cut

    def drop_next_reply(self) -> None:
        """Let the next request through, then lose its reply: the server has
        acted, and the client's connection closes before it hears back."""
        self._drop_reply.set()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._conns += [client, upstream]
            for a, b, replies in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pipe, args=(a, b, replies), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, replies: bool) -> None:
        try:
            while data := src.recv(65536):
                if replies and self._drop_reply.is_set():
                    self._drop_reply.clear()
                    for conn in (src, dst):
                        with contextlib.suppress(OSError):
                            conn.shutdown(socket.SHUT_RDWR)
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
