"""Flower, started the way `make flower` starts it: read-only for tasks and
workers, /metrics behind its login, on 127.0.0.1, its password not in argv."""

from __future__ import annotations

import base64
import os
import shlex
import socket
import subprocess
import urllib.error
import urllib.request

import psutil
import pytest

from tests.conftest import ROOT, Proc, _process_env

pytestmark = pytest.mark.worker

PASSWORD = "s3cret-flower-pw"


def _make_flower_argv() -> list[str]:
    """The command `make flower` runs (its recipe's last line), through the
    shell as make runs it: what `ps` shows is what the shell expanded."""
    # Under `make test` the outer make's MAKEFLAGS/MAKELEVEL would make this
    # one print "Entering/Leaving directory" lines around the recipe.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    out = subprocess.run(
        ["make", "--no-print-directory", "-n", "flower"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = out.strip().splitlines()[-1]
    assert shlex.split(line)[0].endswith("/celery"), line
    return ["sh", "-c", f"exec {line}"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(url: str, *, method: str = "GET", auth: bool = True, data: bytes | None = None):
    req = urllib.request.Request(url, method=method, data=data)
    if auth:
        token = base64.b64encode(f"watcher:{PASSWORD}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def flower(tmp_path):
    port = _free_port()
    env = _process_env({"FLOWER_BASIC_AUTH": f"watcher:{PASSWORD}", "FLOWER_PORT": str(port)})
    env.pop("FLOWER_ADDRESS", None)
    env.pop("FLOWER_ALLOW_CONTROL", None)
    proc = Proc(_make_flower_argv(), tmp_path / "flower.log", env)
    try:
        proc.wait_for("Visit me at", timeout=60)
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


def test_flower_is_read_only_with_metrics_behind_auth_on_localhost_without_password_in_argv(
    flower, redis_client
):
    proc, base = flower
    # ps: no process of Flower's shows the password
    for pid in [proc.pid, *proc.child_pids()]:
        assert PASSWORD not in " ".join(psutil.Process(pid).cmdline())
    listening = {
        c.laddr.ip
        for c in psutil.Process(proc.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }
    assert listening == {"127.0.0.1"}

    assert _request(f"{base}/metrics", auth=False)[0] == 401
    status, body = _request(f"{base}/metrics")
    assert status == 200 and "flower_" in body

    # Sending a run through Flower's task API: refused, nothing published.
    before = redis_client.llen("jobs")
    forged = b'{"args": ["00000000-0000-0000-0000-000000000001"], "kwargs": {"job_id": 1}}'
    for endpoint in ("async-apply", "apply", "send-task"):
        status, body = _request(
            f"{base}/api/task/{endpoint}/jobs.execute_run", method="POST", data=forged
        )
        assert status == 403, (endpoint, status, body)
    assert redis_client.llen("jobs") == before
    # Revoking/terminating a run, or stopping a worker: refused as well.
    run_id = "00000000-0000-0000-0000-000000000002"
    assert _request(f"{base}/api/task/revoke/{run_id}?terminate=true", method="POST")[0] == 403
    assert _request(f"{base}/api/worker/shutdown/w@host", method="POST")[0] == 403
    # Reading stays possible.
    assert _request(f"{base}/api/task/types")[0] != 403


def test_flower_refuses_to_start_without_a_login(tmp_path):
    env = _process_env({"FLOWER_PORT": str(_free_port())})
    env.pop("FLOWER_BASIC_AUTH", None)
    env.pop("FLOWER_AUTH", None)
    done = subprocess.run(
        _make_flower_argv(), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert "set FLOWER_BASIC_AUTH=user:password" in done.stdout + done.stderr
