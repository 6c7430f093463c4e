"""The fault proxy itself: a cut refuses connections, a restore accepts them again."""

from __future__ import annotations

import socket

import pytest

from tests.faults import TcpProxy


@pytest.fixture
def echo_server():
    server = socket.create_server(("127.0.0.1", 0))
    yield server.getsockname()[1], server
    server.close()


def _round_trip(port: int, server: socket.socket) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        upstream, _ = server.accept()
        with upstream:
            client.sendall(b"ping")
            return upstream.recv(4)


def test_a_cut_refuses_new_connections_until_the_proxy_is_restored(echo_server):
    target_port, server = echo_server
    proxy = TcpProxy("127.0.0.1", target_port)
    try:
        assert _round_trip(proxy.port, server) == b"ping"
        proxy.cut()
        # Right after the cut, with the accept thread idle: refused, not
        # accepted and dropped.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        proxy.restore()
        assert _round_trip(proxy.port, server) == b"ping"
    finally:
        proxy.close()
