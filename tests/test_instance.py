"""The second terminal: `manage.py` in the checkout of a running `make run`
finds its embedded Redis through the launcher's record (config.instance),
with no export; a record whose launcher is gone does not count."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import redis

from config import instance
from config.env import env_str
from jobs.models import AuditEvent, JobRun
from tests.conftest import ROOT, _process_env
from tests.factories import JobFactory


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once it is closed


@pytest.fixture
def var_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("JOBWARDEN_VAR_DIR", str(tmp_path / "var"))
    instance.recorded_env.cache_clear()
    yield tmp_path / "var"
    instance.recorded_env.cache_clear()


def test_an_unset_variable_comes_from_the_running_launchers_record(var_dir, monkeypatch):
    monkeypatch.delenv("X_EMBEDDED_URL", raising=False)
    instance.write_state({"X_EMBEDDED_URL": "redis://127.0.0.1:40001/0"})  # this process: alive

    assert env_str("X_EMBEDDED_URL", "redis://default/0") == "redis://127.0.0.1:40001/0"
    monkeypatch.setenv("X_EMBEDDED_URL", "redis://exported/0")
    assert env_str("X_EMBEDDED_URL", "redis://default/0") == "redis://exported/0"  # env wins
    assert oct(instance.state_path().stat().st_mode & 0o777) == "0o600"

    instance.remove_state()
    instance.recorded_env.cache_clear()
    monkeypatch.delenv("X_EMBEDDED_URL")
    assert not instance.state_path().exists()
    assert env_str("X_EMBEDDED_URL", "redis://default/0") == "redis://default/0"


def test_a_record_left_by_a_dead_launcher_is_ignored(var_dir, monkeypatch):
    monkeypatch.delenv("X_EMBEDDED_URL", raising=False)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    var_dir.mkdir(parents=True)
    env = {"X_EMBEDDED_URL": "redis://127.0.0.1:40002/0"}
    for pid, started in [(gone.pid, 1.0), (os.getpid(), 1.0)]:  # dead pid; reused pid
        instance.state_path().write_text(json.dumps({"pid": pid, "started": started, "env": env}))
        instance.recorded_env.cache_clear()
        assert instance.running() is None
        assert env_str("X_EMBEDDED_URL", "redis://default/0") == "redis://default/0"


@pytest.mark.django_db(transaction=True)
def test_manage_py_in_a_second_terminal_sends_to_the_launchers_embedded_redis(var_dir):
    from config.launcher import EmbeddedRedis

    JobFactory(name="second-terminal", queue="second-terminal-q")
    embedded = EmbeddedRedis(var_dir / "redis")
    try:
        # What the launcher records; this test process stands in for it.
        instance.write_state({"REDIS_URL": embedded.url})
        # A fresh shell: nothing exported but the database (the test settings
        # would default REDIS_URL themselves).
        env = _process_env(
            {"JOBWARDEN_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "config.settings.base"}
        )
        del env["REDIS_URL"]
        result = subprocess.run(
            [sys.executable, "manage.py", "jobs", "run", "second-terminal"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        # The run's message is on the embedded Redis, where the launcher's worker reads.
        assert redis.Redis.from_url(embedded.url).llen("second-terminal-q") == 1
        assert JobRun.objects.filter(job__name="second-terminal").count() == 1
    finally:
        instance.remove_state()
        embedded.stop()


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_broker_is_one_line_naming_it_and_nothing_is_saved():
    JobFactory(name="nowhere")
    unused_tcp_port = closed_port()
    url = f"redis://:s3cret-pw@127.0.0.1:{unused_tcp_port}/0"  # a real, closed port
    result = subprocess.run(
        [sys.executable, "manage.py", "jobs", "run", "nowhere", "--wait"],
        cwd=ROOT,
        env=_process_env({"REDIS_URL": url}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"cannot reach the broker at redis://:**@127.0.0.1:{unused_tcp_port}/0" in lines[0]
    assert "s3cret-pw" not in result.stderr
    assert not JobRun.objects.exists()
    assert not AuditEvent.objects.filter(action="run.trigger").exists()
