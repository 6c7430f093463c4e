"""OS processes: an allowlisted executable with an argument list, never a shell.

config: executable (absolute path, or a name found on JOBS_PROCESS_PATH),
args (list; each element is rendered on its own and stays ONE argv element,
whatever a parameter value contains), cwd (must exist; default a fresh
temporary directory), env (names matching JOBS_PROCESS_ALLOWED_ENV, default
JOB_*, added to a scrubbed base env whose PATH and HOME are fixed),
success_exit_codes (default [0]).

The executable's real path (symlinks resolved) must match
JOBS_PROCESS_ALLOWED_EXECUTABLES (paths or globs) at save time and again at
run time; the checked file is what the kernel executes. The process leads its
own session/process group (pgid in run.metadata["pgid"]): timeout, cancel and
the end of the run kill the whole group plus every descendant seen meanwhile,
so nothing outlives the run. stdout/stderr are read concurrently line by line
into the run's output/stderr buffers (streamed to the row by the heartbeat).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from pathlib import PurePosixPath
from typing import Any

import psutil
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from jobs.execution.configcheck import ConfigCheck, fail
from jobs.execution.context import PermanentFailure, RunCancelled, RunContext
from jobs.execution.kinds.process_rules import env_refusal, inline_code_refusal
from jobs.execution.redact import Redactor
from jobs.params import render, validate_parameter_spec
from jobs.secrets import open_config

KEYS = {"executable", "args", "cwd", "env", "success_exit_codes"}
_GLOB = re.compile(r"[*?\[]")
POLL = 0.1
LINE_LIMIT = 8192  # a line without newline is cut into pieces, not buffered forever


class ProcessFailed(Exception):
    """The process exited with a code outside success_exit_codes (transient:
    the job's retry policy applies)."""


# --- the allowlist -------------------------------------------------------------


def _real_pattern(pattern: str) -> str:
    """Resolve symlinks in the fixed directory part of a glob pattern."""
    parts = PurePosixPath(pattern).parts
    for i, part in enumerate(parts):
        if _GLOB.search(part):
            head = os.path.realpath(str(PurePosixPath(*parts[:i]))) if i else "/"
            return str(PurePosixPath(head, *parts[i:]))
    return os.path.realpath(pattern)


def is_allowed(path: str) -> bool:
    """True if `path` (already a real path) is on JOBS_PROCESS_ALLOWED_EXECUTABLES."""
    candidate = PurePosixPath(path)
    for entry in settings.JOBS_PROCESS_ALLOWED_EXECUTABLES:
        if _GLOB.search(entry):
            if candidate.match(entry) or candidate.match(_real_pattern(entry)):
                return True
        elif path in (entry, os.path.realpath(entry)):
            return True
    return False


def resolve_executable(executable: str, *, at_run: bool) -> str:
    """The real path to execute, after the allowlist check. At save time a
    file missing on this host is judged by its literal path (workers may have
    it); at run time it must exist and be executable."""
    field = "config.executable"
    if "/" not in executable:
        found = shutil.which(executable, path=settings.JOBS_PROCESS_PATH)
        if found is None:
            if at_run:
                raise PermanentFailure(
                    f"{field}: {executable!r} not found on {settings.JOBS_PROCESS_PATH}"
                )
            fail(field, f"{executable!r} is not found on JOBS_PROCESS_PATH; give an absolute path")
        path = found
    elif not executable.startswith("/"):
        fail(
            field,
            f"{executable!r} must be an absolute path (a relative one depends on the working directory)",
        )
        path = executable
    else:
        path = executable
    exists = os.path.exists(path)
    real = os.path.realpath(path) if exists else path
    if not is_allowed(real):
        shown = f"{executable!r}" + (f" (resolves to {real!r})" if real != executable else "")
        message = f"{shown} is not in JOBS_PROCESS_ALLOWED_EXECUTABLES"
        if at_run:
            raise PermanentFailure(f"{field}: {message}")
        fail(field, message)
    if at_run and not (exists and os.path.isfile(real) and os.access(real, os.X_OK)):
        raise PermanentFailure(
            f"{field}: {executable!r} does not exist or is not executable on this worker"
        )
    return real


def base_env() -> dict[str, str]:
    """The scrubbed environment every process starts from: nothing of the
    worker's (no DATABASE_URL, no JOBS_SECRET_KEYS)."""
    try:
        home = pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        home = "/"
    return {"PATH": settings.JOBS_PROCESS_PATH, "LANG": "C.UTF-8", "HOME": home}


# --- process-tree control ----------------------------------------------------------


class _Tree:
    """The process group plus every descendant seen (even one that left the
    group with setsid), identified by pid + start time against pid reuse."""

    def __init__(self, popen: subprocess.Popen):
        self.popen = popen
        self.pgid = popen.pid  # start_new_session: the child leads its group
        self.seen: dict[int, float] = {}
        self.snapshot()

    def snapshot(self) -> None:
        try:
            for child in psutil.Process(self.popen.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    self.seen.setdefault(child.pid, child.create_time())
        except psutil.Error:
            pass

    def _alive_seen(self) -> list[psutil.Process]:
        alive = []
        for pid, started in list(self.seen.items()):
            try:
                proc = psutil.Process(pid)
                if proc.create_time() == started and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
            except psutil.Error:
                self.seen.pop(pid, None)
        return alive

    def signal(self, sig: int) -> bool:
        """Send `sig` to the group and the seen descendants; True if anyone got it."""
        hit = False
        try:
            os.killpg(self.pgid, sig)
            hit = True
        except (ProcessLookupError, PermissionError):
            pass
        for proc in self._alive_seen():
            try:
                proc.send_signal(sig)
                hit = True
            except psutil.Error:
                pass
        return hit

    def group_alive(self) -> bool:
        try:
            os.killpg(self.pgid, 0)
        except (ProcessLookupError, PermissionError):
            return bool(self._alive_seen())
        # Only zombies left? They vanish when reaped; treat as gone.
        return (
            self.popen.poll() is None
            or bool(self._alive_seen())
            or _group_has_live_members(self.pgid)
        )

    def terminate(self, grace: float) -> None:
        """SIGTERM, up to `grace` seconds to exit, then SIGKILL."""
        self.snapshot()
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self.group_alive():
            self.popen.poll()
            time.sleep(0.05)
        self.kill()

    def kill(self) -> bool:
        self.snapshot()
        hit = self.signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)
        return hit


def _group_has_live_members(pgid: int) -> bool:
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return False


def _pump(stream: Any, buffer: Any, redactor: Redactor, tail: deque | None) -> None:
    try:
        for raw in iter(lambda: stream.readline(LINE_LIMIT), b""):
            line = redactor.redact(raw.decode("utf-8", "replace"))
            buffer.write(line)
            if tail is not None and line.strip():
                tail.append(line.strip())
    except (OSError, ValueError):
        pass  # pipe closed under us during teardown


class ProcessKind:
    name = "process"

    def validate(self, spec: dict[str, Any]) -> None:
        check = ConfigCheck(spec, KEYS)
        executable = check.string("executable", required=True)
        if "{" in executable:
            fail(
                "config.executable",
                "may not contain placeholders (it is checked against the allowlist)",
            )
        resolve_executable(executable, at_run=False)
        args = check.get("args")
        if args is None:
            args = []
        if not isinstance(args, list):
            fail("config.args", "must be a list of strings, one per argument (no shell is used)")
        for i, arg in enumerate(args):
            if isinstance(arg, bool) or not isinstance(arg, str | int | float):
                fail(f"config.args[{i}]", "expected a string or number")
            if isinstance(arg, str) and "\0" in arg:
                fail(f"config.args[{i}]", "may not contain NUL characters")
        cwd = check.string("cwd")
        if cwd is not None and not cwd.startswith(("/", "{")):
            fail("config.cwd", f"{cwd!r} must be an absolute path")
        refusal = inline_code_refusal(executable, args)
        if refusal:
            fail(f"config.args[{refusal[0]}]", refusal[1])
        for name, value in check.mapping("env").items():
            field = f"config.env.{name}"
            reason = env_refusal(name)
            if reason:
                fail(field, reason)
            if isinstance(value, dict):
                if set(value) - {"value", "secret"}:
                    fail(field, "an env object has only value and secret")
                value = value.get("value")
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                fail(field, "expected a string")
            if isinstance(value, str) and "\0" in value:
                fail(field, "may not contain NUL characters")
        codes = check.get("success_exit_codes")
        if codes is not None:
            if not isinstance(codes, list) or not codes:
                fail("config.success_exit_codes", "must be a non-empty list of integers")
            for code in codes:
                if isinstance(code, bool) or not isinstance(code, int) or not -255 <= code <= 255:
                    fail("config.success_exit_codes", f"{code!r} is not an exit code (-255..255)")
        validate_parameter_spec(spec)

    # --- run time ------------------------------------------------------------------

    def _prepare(
        self, ctx: RunContext, config: dict[str, Any]
    ) -> tuple[list[str], dict[str, str], str | None]:
        params = ctx.parameters
        # Again at run time: a job saved before these rules, or settings
        # tightened since, must not run.
        refusal = inline_code_refusal(str(config["executable"]), config.get("args") or [])
        if refusal:
            raise PermanentFailure(f"config.args[{refusal[0]}]: {refusal[1]}")
        for name in config.get("env") or {}:
            reason = env_refusal(name)
            if reason:
                raise PermanentFailure(f"config.env.{name}: {reason}")
        argv = [str(config["executable"])]
        for i, arg in enumerate(config.get("args") or []):
            value = render(
                str(arg) if not isinstance(arg, str) else arg,
                params,
                mode="string",
                where=f"config.args[{i}]",
            )
            if "\0" in value:
                raise PermanentFailure(
                    f"config.args[{i}]: a parameter value contains a NUL character"
                )
            argv.append(value)
        env = base_env()
        for name, value in (config.get("env") or {}).items():
            raw = value.get("value") if isinstance(value, dict) else value
            env[name] = render(str(raw), params, mode="string", where=f"config.env.{name}")
        cwd = config.get("cwd")
        if cwd:
            cwd = render(cwd, params, mode="string", where="config.cwd")
            if not os.path.isdir(cwd):
                raise PermanentFailure(
                    f"config.cwd: working directory {cwd!r} does not exist on this worker"
                )
        return argv, env, cwd or None

    def execute(self, ctx: RunContext) -> Any:
        config = open_config(ctx.job)
        argv, env, cwd = self._prepare(ctx, config)  # all rendering before anything runs
        real = resolve_executable(argv[0], at_run=True)
        redactor = Redactor.for_run(ctx.job, config, ctx.parameters)
        codes = config.get("success_exit_codes") or [0]
        with tempfile.TemporaryDirectory(prefix="jobwarden-") as scratch:
            ctx.metadata["argv"] = [redactor.redact(a) for a in argv]
            ctx.metadata["cwd"] = cwd or "(temporary directory)"
            return self._run(ctx, argv, real, env, cwd or scratch, codes, redactor)

    def _run(
        self,
        ctx: RunContext,
        argv: list[str],
        real: str,
        env: dict[str, str],
        cwd: str,
        codes: list[int],
        redactor: Redactor,
    ) -> Any:
        # argv[0] stays the configured name (multi-call binaries read it);
        # `executable` is the real path that passed the allowlist.
        popen = subprocess.Popen(  # noqa: S603 - list argv, shell=False, allowlisted executable
            argv, executable=real, cwd=cwd, env=env, shell=False, close_fds=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        tree = _Tree(popen)
        ctx.metadata["pid"] = popen.pid
        ctx.metadata["pgid"] = tree.pgid
        tail: deque[str] = deque(maxlen=3)
        readers = [
            threading.Thread(
                target=_pump, args=(popen.stdout, ctx.output, redactor, None), daemon=True
            ),
            threading.Thread(
                target=_pump, args=(popen.stderr, ctx.stderr, redactor, tail), daemon=True
            ),
        ]
        for reader in readers:
            reader.start()
        # Our own deadline, ahead of Celery's soft limit, so the kill and the
        # record happen here with the output intact.
        margin = min(1.0, ctx.timeout * 0.05)
        deadline = time.monotonic() + max(0.0, ctx.time_remaining - margin)
        stop: str | None = None
        last_beat = time.monotonic()
        try:
            while True:
                try:
                    popen.wait(POLL)
                    break
                except subprocess.TimeoutExpired:
                    pass
                now = time.monotonic()
                if now - last_beat >= 1.0:
                    tree.snapshot()
                    ctx.heartbeat()
                    last_beat = now
                if ctx.is_cancelled():
                    stop = "cancelled"
                    tree.terminate(float(settings.JOBS_CANCEL_GRACE) / 2)
                    break
                if now >= deadline:
                    stop = "timeout"
                    tree.terminate(min(2.0, float(settings.JOBS_TIMEOUT_GRACE) / 2))
                    break
        finally:
            # Every exit path (success, failure, timeout, cancel, soft time
            # limit, a bug here) ends with the whole tree gone.
            leftovers = tree.kill()
            if leftovers and stop is None:
                ctx.metadata["killed_leftover_processes"] = True
            for reader in readers:
                reader.join(2)
            for stream in (popen.stdout, popen.stderr):
                with contextlib.suppress(OSError):
                    stream.close()
        code = popen.returncode
        ctx.metadata["exit_code"] = code
        if stop == "cancelled":
            raise RunCancelled("cancelled; the process group was terminated")
        if stop == "timeout":
            raise SoftTimeLimitExceeded(
                f"process exceeded the job timeout ({ctx.timeout:g}s); process group killed"
            )
        if code not in codes:
            detail = f"; stderr: {' | '.join(tail)}" if tail else ""
            raise ProcessFailed(
                f"exit code {code} (success: {', '.join(map(str, codes))}){detail}"[:2000]
            )
        return {"exit_code": code}


handler = ProcessKind()
