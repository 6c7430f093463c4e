"""Example jobs loaded by `make run` (examples/jobs.yaml): one that succeeds
and reports progress, one that fails, one that runs ~30 s with heartbeats and
stops early when cancelled. They double as a template for real jobs: a job
function takes the run context and returns a JSON result or raises; `@runnable`
offers it to database-defined jobs (examples/jobs.yaml names them by target).
"""

from __future__ import annotations

import time
from typing import Any

from jobs.definitions import runnable
from jobs.execution.context import RunContext


@runnable
def report_progress(ctx: RunContext) -> dict[str, Any]:
    """Count to `steps` (default 5), reporting progress at each step."""
    steps = int(ctx.parameters.get("steps", 5))
    pause = float(ctx.parameters.get("pause", 0.5))
    for step in range(1, steps + 1):
        ctx.check_cancelled()
        time.sleep(pause)
        ctx.progress(100 * step / steps, f"step {step} of {steps}")
        ctx.logger.info("finished step %s", step)
    return {"steps": steps}


@runnable
def always_fails(ctx: RunContext) -> None:
    """Fail on purpose, so alerts, retries and auto-disable can be seen."""
    ctx.logger.info("about to fail (on purpose)")
    raise RuntimeError(ctx.parameters.get("message", "this example job always fails"))


@runnable
def slow_job(ctx: RunContext) -> dict[str, Any]:
    """Run ~30 s (parameter `seconds`), heartbeating; stop early if cancelled."""
    seconds = float(ctx.parameters.get("seconds", 30))
    started = time.monotonic()
    ticks = 0
    while time.monotonic() - started < seconds:
        if ctx.is_cancelled():
            ctx.logger.info("cancelled after %d ticks; cleaning up", ticks)
            return {"ticks": ticks, "cancelled": True}
        time.sleep(1)
        ticks += 1
        ctx.heartbeat()
        ctx.progress(min(100.0, 100 * (time.monotonic() - started) / seconds), f"{ticks}s elapsed")
    return {"ticks": ticks, "cancelled": False}
