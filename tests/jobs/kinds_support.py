"""Helpers for the job-kind tests: a real RunContext, sealed Job rows, and a
real HTTP server on loopback that records what it received."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from jobs.execution.context import OutputBuffer, RunContext
from jobs.models import Job
from jobs.secrets import seal_config

MARIADB = "DRIVER={MariaDB Unicode};SERVER=127.0.0.1;PORT=3306;UID=root;PWD=;DATABASE=test"
POSTGRES = "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=5432;UID=postgres;DATABASE=postgres"


def make_job(kind: str, config: dict[str, Any], *, save: bool = False, **fields: Any) -> Job:
    """A Job with its config sealed the way job services seal it."""
    public, sealed = seal_config(kind, config)
    fields.setdefault("name", f"{kind}-job-{time.monotonic_ns()}")
    fields.setdefault("schedule_type", "manual")
    job = Job(kind=kind, config=public, secrets=sealed, **fields)
    if save:
        job.save()
    return job


def make_ctx(
    job: Job,
    parameters: dict[str, Any] | None = None,
    *,
    timeout: float = 20,
    cancelled: Callable[[], bool] | None = None,
) -> RunContext:
    return RunContext(
        run_id="00000000-0000-0000-0000-000000000001",
        job_name=job.name,
        parameters=dict(parameters or {}),
        attempt=1,
        timeout=timeout,
        output=OutputBuffer(64 * 1024),
        stderr=OutputBuffer(64 * 1024),
        _cancelled=cancelled or (lambda: False),
        job=job,
    )


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    host: str
    port: int
    requests: list[Recorded] = field(default_factory=list)

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"


Route = Callable[[Recorded], tuple[int, dict[str, str], bytes | Iterator[bytes]]]


@contextmanager
def http_server(route: Route, host: str = "127.0.0.1", tls: Any = None) -> Iterator[Server]:
    """A threaded HTTP/1.1 server; `route(request)` returns (status, headers, body)."""
    server_info = Server(host, 0)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            req = Recorded(
                self.command,
                self.path,
                dict(self.headers),
                self.rfile.read(length) if length else b"",
            )
            server_info.requests.append(req)
            status, headers, body = route(req)
            self.send_response(status)
            chunked = not isinstance(body, bytes)
            for k, v in headers.items():
                self.send_header(k, v)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                if chunked:
                    for piece in body:
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer((host, 0), Handler)
    srv.daemon_threads = True
    if tls is not None:
        srv.socket = tls.wrap_socket(srv.socket, server_side=True)
    server_info.port = srv.server_port
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_info
    finally:
        srv.shutdown()
        srv.server_close()


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None):
    return (
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(data).encode(),
    )
