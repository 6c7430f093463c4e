"""Process jobs, executed for real: argv without a shell, allowlist, scrubbed
environment, separate bounded streams, exit codes, and no process left
behind after a timeout, a cancel or Celery's soft time limit."""

from __future__ import annotations

import os
import signal
import threading
import time

import psutil
import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.test import override_settings

from jobs.errors import ValidationError
from jobs.execution.context import PermanentFailure, RunCancelled
from jobs.execution.kinds import get_kind
from jobs.execution.kinds.process import ProcessFailed
from tests.jobs.kinds_support import make_ctx, make_job

ALLOWED = ["/usr/bin/*", "/bin/*"]
process = get_kind("process")


@pytest.fixture(autouse=True)
def _allow_system_binaries():
    with override_settings(
        JOBS_PROCESS_ALLOWED_EXECUTABLES=ALLOWED, JOBS_CANCEL_GRACE=2.0, JOBS_TIMEOUT_GRACE=2.0
    ):
        yield


def run(config, parameters=None, **kw):
    job = make_job("process", config)
    ctx = make_ctx(job, parameters, **kw)
    try:
        return process.execute(ctx), ctx
    finally:
        ctx.close()


def descendants_alive(pids, settle=3.0):
    """Pids still alive (not zombies) after up to `settle` seconds: SIGKILL
    is delivered asynchronously."""
    deadline = time.monotonic() + settle
    while True:
        alive = _alive(pids)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def _alive(pids):
    alive = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            if p.status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


# --- save-time validation -----------------------------------------------------


def test_executable_outside_allowlist_is_refused_at_save_naming_the_setting():
    with (
        override_settings(JOBS_PROCESS_ALLOWED_EXECUTABLES=["/usr/bin/echo"]),
        pytest.raises(ValidationError) as exc,
    ):
        process.validate({"config": {"executable": "/bin/sh", "args": ["-c", "id"]}})
    assert "config.executable" in exc.value.message
    assert "is not in JOBS_PROCESS_ALLOWED_EXECUTABLES" in exc.value.message


def test_symlink_to_a_forbidden_binary_is_judged_by_its_real_path(tmp_path):
    link = tmp_path / "innocent"
    link.symlink_to("/bin/sh")
    with override_settings(JOBS_PROCESS_ALLOWED_EXECUTABLES=[f"{tmp_path}/*"]):
        with pytest.raises(ValidationError, match="resolves to"):
            process.validate({"config": {"executable": str(link)}})
        job = make_job("process", {"executable": str(link)})
        with pytest.raises(PermanentFailure, match="not in JOBS_PROCESS_ALLOWED_EXECUTABLES"):
            process.execute(make_ctx(job))


@pytest.mark.parametrize(
    "config, field",
    [
        ({"executable": "/bin/echo", "args": "hello; rm -rf /"}, "config.args"),
        ({"executable": "/bin/echo", "args": [["nested"]]}, "config.args[0]"),
        ({"executable": "bin/echo"}, "config.executable"),
        ({"executable": "/bin/echo", "cwd": "relative/dir"}, "config.cwd"),
        (
            {"executable": "/bin/echo", "env": {"LD_PRELOAD": "/tmp/evil.so"}},
            "config.env.LD_PRELOAD",
        ),
        ({"executable": "/bin/echo", "env": {"BAD-NAME": "x"}}, "config.env.BAD-NAME"),
        ({"executable": "/bin/echo", "success_exit_codes": []}, "config.success_exit_codes"),
        ({"executable": "/bin/echo", "shell": True}, "config.shell"),
        ({"executable": "/bin/echo{X}"}, "config.executable"),
    ],
)
def test_bad_process_config_is_refused_naming_the_field(config, field):
    with pytest.raises(ValidationError) as exc:
        process.validate({"config": config})
    assert exc.value.message.startswith(field), exc.value.message


def test_allowlisted_name_on_the_process_path_is_accepted():
    process.validate({"config": {"executable": "true", "args": ["{today}"]}})


# --- execution ----------------------------------------------------------------


def test_arguments_with_shell_syntax_stay_single_argv_elements_and_no_marker_appears(tmp_path):
    marker = tmp_path / "pwned"
    hostile = f"x; touch {marker} && echo $(id) `id` | cat > {marker}"
    result, ctx = run(
        {"executable": "/usr/bin/printf", "args": ["[%s]\\n", "{Value}", "plain"]},
        {"Value": hostile},
    )
    assert result == {"exit_code": 0}
    assert ctx.output.getvalue() == f"[{hostile}]\n[plain]\n"
    assert not marker.exists()
    assert ctx.metadata["argv"][2] == hostile


def test_stdout_and_stderr_are_captured_separately_with_the_exit_code():
    _, ctx = run({"executable": "/bin/sh", "args": ["-c", "echo out; echo err >&2; exit 0"]})
    assert ctx.output.getvalue() == "out\n"
    assert ctx.stderr.getvalue() == "err\n"
    assert ctx.metadata["exit_code"] == 0
    assert isinstance(ctx.metadata["pgid"], int)


def test_unexpected_exit_code_fails_with_the_code_and_the_stderr_tail():
    job = make_job("process", {"executable": "/bin/sh", "args": ["-c", "echo boom >&2; exit 3"]})
    ctx = make_ctx(job)
    with pytest.raises(ProcessFailed, match=r"exit code 3 \(success: 0\); stderr: boom"):
        process.execute(ctx)
    assert ctx.metadata["exit_code"] == 3


def test_success_exit_codes_make_other_codes_successful():
    result, _ = run(
        {"executable": "/bin/sh", "args": ["-c", "exit 3"], "success_exit_codes": [0, 3]}
    )
    assert result == {"exit_code": 3}


def test_missing_working_directory_fails_before_starting_with_a_clear_error(tmp_path):
    job = make_job("process", {"executable": "/bin/pwd", "cwd": str(tmp_path / "nope")})
    with pytest.raises(
        PermanentFailure, match=r"config.cwd: working directory '.*nope' does not exist"
    ):
        process.execute(make_ctx(job))


def test_working_directory_and_environment_are_applied_to_a_scrubbed_base(tmp_path, monkeypatch):
    monkeypatch.setenv("LEAKY_WORKER_SECRET", "should-not-pass")
    _, ctx = run(
        {
            "executable": "/bin/sh",
            "args": ["-c", "pwd; env | sort"],
            "cwd": str(tmp_path),
            "env": {"JOB_REPORT_DATE": "{Day}"},
        },
        {"Day": "2024-05-01"},
    )
    lines = ctx.output.getvalue().splitlines()
    assert lines[0] == str(tmp_path)
    env = dict(line.split("=", 1) for line in lines[1:] if "=" in line)
    assert env["JOB_REPORT_DATE"] == "2024-05-01"
    assert env["LANG"] == "C.UTF-8" and env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    for leaked in (
        "LEAKY_WORKER_SECRET",
        "DATABASE_URL",
        "JOBS_SECRET_KEYS",
        "REDIS_URL",
        "DJANGO_SETTINGS_MODULE",
    ):
        assert leaked not in env


def test_secret_env_values_are_masked_in_the_captured_output():
    _, ctx = run(
        {
            "executable": "/bin/sh",
            "args": ["-c", 'echo "pw is $JOB_DB_PASSWORD"'],
            "env": {"JOB_DB_PASSWORD": "hunter2-very-secret"},
        }
    )
    assert ctx.output.getvalue() == "pw is ********\n"
    assert "hunter2" not in str(ctx.metadata)


def test_large_output_on_both_streams_does_not_deadlock_and_is_marked_truncated():
    script = "head -c 2000000 /dev/zero | tr '\\0' a; head -c 2000000 /dev/zero | tr '\\0' b >&2; echo done"
    started = time.monotonic()
    _, ctx = run({"executable": "/bin/sh", "args": ["-c", script]}, timeout=30)
    assert time.monotonic() - started < 20
    assert ctx.output.truncated and ctx.stderr.truncated
    assert ctx.output.getvalue().endswith(ctx.output.MARK)


def test_output_lines_appear_in_the_buffer_while_the_process_still_runs():
    job = make_job(
        "process", {"executable": "/bin/sh", "args": ["-c", "echo first; sleep 2; echo second"]}
    )
    ctx = make_ctx(job)
    seen_midway = []
    thread = threading.Thread(target=process.execute, args=(ctx,))
    thread.start()
    time.sleep(1.0)
    seen_midway.append(ctx.output.getvalue())
    thread.join(10)
    assert seen_midway == ["first\n"]
    assert ctx.output.getvalue() == "first\nsecond\n"


def test_timeout_kills_the_whole_process_tree():
    job = make_job(
        "process",
        {"executable": "/bin/sh", "args": ["-c", "sleep 60 & sleep 60 & echo started; wait"]},
    )
    ctx = make_ctx(job, timeout=2)
    started = time.monotonic()
    with pytest.raises(SoftTimeLimitExceeded, match="process group killed"):
        process.execute(ctx)
    assert time.monotonic() - started < 5
    pgid = ctx.metadata["pgid"]
    survivors = [p.pid for p in psutil.process_iter() if _pgid(p.pid) == pgid]
    assert survivors == []
    assert ctx.output.getvalue() == "started\n"


def test_a_child_that_leaves_the_process_group_is_still_killed():
    # setsid puts the grandchild in its own session: killpg alone would miss it.
    script = "setsid sleep 61 & echo $! ; sleep 60"
    job = make_job("process", {"executable": "/bin/sh", "args": ["-c", script]})
    ctx = make_ctx(job, timeout=3)
    with pytest.raises(SoftTimeLimitExceeded):
        process.execute(ctx)
    escaped = int(ctx.output.getvalue().split()[0])
    assert descendants_alive([escaped]) == []


def test_cancel_terminates_the_tree_and_reports_cancelled():
    flag = threading.Event()
    job = make_job(
        "process",
        {"executable": "/bin/sh", "args": ["-c", "trap '' TERM; sleep 60 & wait; sleep 60"]},
    )
    ctx = make_ctx(job, timeout=60, cancelled=flag.is_set)
    threading.Timer(1.0, flag.set).start()
    started = time.monotonic()
    with pytest.raises(RunCancelled):
        process.execute(ctx)
    # TERM is ignored: the kill follows after half the cancel grace.
    assert time.monotonic() - started < 5
    pgid = ctx.metadata["pgid"]
    assert [p.pid for p in psutil.process_iter() if _pgid(p.pid) == pgid] == []


def test_celery_soft_time_limit_in_the_middle_kills_the_tree():
    def raise_soft_limit(signum, frame):
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGUSR1, raise_soft_limit)
    try:
        job = make_job("process", {"executable": "/bin/sh", "args": ["-c", "sleep 60 & wait"]})
        ctx = make_ctx(job, timeout=60)
        threading.Timer(1.0, os.kill, args=(os.getpid(), signal.SIGUSR1)).start()
        with pytest.raises(SoftTimeLimitExceeded):
            process.execute(ctx)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    pgid = ctx.metadata["pgid"]
    assert [p.pid for p in psutil.process_iter() if _pgid(p.pid) == pgid] == []


def test_background_leftovers_are_killed_when_the_main_process_exits():
    _, ctx = run({"executable": "/bin/sh", "args": ["-c", "sleep 60 >/dev/null 2>&1 & echo $!"]})
    leftover = int(ctx.output.getvalue().strip())
    assert descendants_alive([leftover]) == []
    assert ctx.metadata.get("killed_leftover_processes") is True


def test_unknown_placeholder_fails_before_the_process_starts(tmp_path):
    marker = tmp_path / "ran"
    job = make_job("process", {"executable": "/usr/bin/touch", "args": [str(marker), "{Missing}"]})
    with pytest.raises(
        PermanentFailure, match=r"unknown parameter \{Missing\} in config.args\[1\]"
    ):
        process.execute(make_ctx(job))
    assert not marker.exists()


def _pgid(pid):
    try:
        if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return None
        return os.getpgid(pid)
    except (ProcessLookupError, psutil.NoSuchProcess):
        return None
