"""Job functions used by the engine's integration tests (imported by the
real worker processes as tests.jobs.sample_jobs:<name>). Registered as
runnable, like an app's jobs.py functions, so any admin may choose them;
tests/conftest.py imports this module so the test process knows them too."""

import os
import time
from pathlib import Path

from jobs.definitions import runnable


@runnable
def noop(ctx):
    return None


@runnable
def succeed(ctx):
    ctx.logger.info("hello from %s", ctx.job_name)
    ctx.progress(50, "half way")
    ctx.progress(100, "done")
    return {"ok": True, "params": ctx.parameters, "attempt": ctx.attempt}


@runnable
def fail(ctx):
    raise RuntimeError(f"boom on attempt {ctx.attempt}")


@runnable
def sleep(ctx):
    """Sleeps `seconds` (default 5), heart-beating; honours cancel."""
    seconds = float(ctx.parameters.get("seconds", 5))
    marker = ctx.parameters.get("marker")
    if marker:
        Path(marker).write_text(f"{os.getpid()}\n")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ctx.is_cancelled():
            return {"stopped": "cancelled"}
        time.sleep(0.1)
    return {"slept": seconds}


@runnable
def sleep_ignoring_cancel(ctx):
    seconds = float(ctx.parameters.get("seconds", 30))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            time.sleep(0.2)
        except Exception:  # swallow the soft interrupt too
            pass
    return {"slept": seconds}


@runnable
def fail_until(ctx):
    """Fails until attempt `succeed_on` (parameter)."""
    if ctx.attempt < int(ctx.parameters.get("succeed_on", 3)):
        raise RuntimeError(f"attempt {ctx.attempt} fails")
    return {"attempt": ctx.attempt}
