"""Per-run overhead of the process and HTTP job kinds, measured in-process:
handler.execute(ctx) with a real RunContext, N times, next to the bare
operation it wraps (subprocess.run of `true`; one requests.get to the same
local server). The difference is what the kind adds: allowlist and path
checks, process-group supervision and stream pumping; the SSRF guard,
circuit breaker round-trips to Redis, streamed bounded read and masking.

    bench.kinds.run(report)      # from bench/__main__.py; report(line: str)
"""

from __future__ import annotations

import http.server
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

N_PROCESS = 200
N_HTTP = 300


def _timed(fn: Callable[[], Any], n: int) -> list[float]:
    fn()  # warm-up: imports, pools, caches
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _line(label: str, samples: list[float]) -> str:
    return (
        f"  {label:<34} {statistics.mean(samples):7.2f} ms/run mean  "
        f"{statistics.median(samples):7.2f} median  {sorted(samples)[int(len(samples) * 0.95)]:7.2f} p95"
    )


class _Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def run(report: Callable[[str], None]) -> None:
    import requests
    from django.test import override_settings

    from jobs.execution.context import OutputBuffer, RunContext
    from jobs.execution.kinds import get_kind
    from jobs.models import Job

    def ctx_for(job: Job) -> RunContext:
        return RunContext(
            run_id="bench", job_name=job.name, parameters={}, attempt=1, timeout=60,
            output=OutputBuffer(64 * 1024), stderr=OutputBuffer(64 * 1024), job=job,
        )  # fmt: skip

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/ping"
    try:
        with override_settings(
            JOBS_PROCESS_ALLOWED_EXECUTABLES=["/usr/bin/true", "/bin/true"],
            JOBS_HTTP_ALLOWED_NETWORKS=["127.0.0.1/32"],
        ):
            process = get_kind("process")
            pjob = Job(name="bench-true", kind="process", config={"executable": "true"})
            bare = _timed(lambda: subprocess.run(["true"], check=True), N_PROCESS)
            kind = _timed(lambda: process.execute(ctx_for(pjob)), N_PROCESS)
            report(f"process kind, spawn `true` (N={N_PROCESS}):")
            report(_line("bare subprocess.run", bare))
            report(_line("process kind execute(ctx)", kind))
            report(
                f"  overhead: {statistics.median(kind) - statistics.median(bare):+.2f} ms/run (median)"
            )

            http_kind = get_kind("http")
            hjob = Job(
                name="bench-http",
                kind="http",
                config={"url": url, "expect_json": {"path": "$.ok", "equals": True}},
            )
            bare = _timed(lambda: requests.get(url, timeout=5).json(), N_HTTP)
            kind = _timed(lambda: http_kind.execute(ctx_for(hjob)), N_HTTP)
            report(f"http kind, GET on a loopback server (N={N_HTTP}):")
            report(_line("bare requests.get", bare))
            report(_line("http kind execute(ctx)", kind))
            report(
                f"  overhead: {statistics.median(kind) - statistics.median(bare):+.2f} ms/run (median)"
            )
    finally:
        server.shutdown()
        server.server_close()
