"""The running `make run` of this checkout, as a second terminal finds it.

The launcher (config.launcher) records what it exported to its children
that a shell cannot guess, the embedded Redis's URL (a new port on every
start), in `<JOBWARDEN_VAR_DIR>/launcher.json`, and removes the file when it
stops. config.env reads a variable from that record when the environment
does not set it, so `manage.py jobs run NAME --wait` in another terminal of
the same checkout talks to the same Redis as the launcher's worker.

A record counts only while the launcher that wrote it is alive: its pid and
that process's start time must both match (a pid reused after a crash that
left the file behind does not count).
"""

from __future__ import annotations

import contextlib
import json
import os
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE_NAME = "launcher.json"


def var_dir() -> Path:
    # Overridable so a test or a second checkout does not share the state.
    return Path(os.environ.get("JOBWARDEN_VAR_DIR") or ROOT / "var")


def state_path() -> Path:
    return var_dir() / STATE_NAME


def _started(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def write_state(env: dict[str, str]) -> Path:
    """Record this process as the running launcher, with `env` (the
    variables a second terminal should inherit). Owner-only: it is local
    state, not something to share."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"pid": os.getpid(), "started": _started(os.getpid()), "env": env}
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(record, out)
    os.replace(tmp, path)  # a reader never sees half a file
    return path


def remove_state() -> None:
    """Remove the record if it is this process's (never another launcher's)."""
    path = state_path()
    record = _read(path)
    if record is not None and record.get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            path.unlink()


def running() -> dict | None:
    """The record of the launcher running from this checkout, or None (no
    file, unreadable, or its process is gone)."""
    record = _read(state_path())
    if record is None:
        return None
    pid, started = record.get("pid"), record.get("started")
    if not isinstance(pid, int) or started is None or _started(pid) != started:
        return None
    return record


@lru_cache(maxsize=1)
def recorded_env() -> dict[str, str]:
    """The variables the running launcher exported (read once per process)."""
    record = running()
    env = record.get("env") if record else None
    if not isinstance(env, dict):
        return {}
    return {str(k): str(v) for k, v in env.items()}


def _read(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None
