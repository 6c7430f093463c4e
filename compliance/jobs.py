"""The built-in compliance job (seed 001's ControllingJob): hourly, one at a
time (overlap skip: the lease is its 20-minute lock), 20-minute timeout."""

from __future__ import annotations

from typing import Any

from jobs.definitions import job


@job(
    name="compliance-check",
    cron="0 * * * *",
    overlap="skip",
    timeout="20m",
    max_retries=0,
    description="Run every enabled compliance rule and raise one alert per area with violations",
    tags=["system", "compliance"],
    # What a manual run may narrow to (POST /compliance/run/): nothing else.
    overridable_parameters=["rules", "area"],
)
def compliance_check(ctx) -> dict[str, Any]:
    """Parameters (manual runs): `rules` (list of names) and/or `area`."""
    from compliance.services import compliance_check as check
    from jobs.models import JobRun

    params = ctx.parameters or {}
    run = JobRun.objects.filter(pk=ctx.run_id).first()
    result = check(
        rules=params.get("rules"), area=params.get("area"), ctx=ctx, job=ctx.job, run=run
    )
    totals = result["totals"]
    ctx.logger.info(
        "compliance: %s rules, %s passed, %s with violations, %s errors",
        totals["rules_run"],
        totals["passed"],
        totals["with_violations"],
        totals["errors"],
    )
    ctx.progress(100, "done")
    return result
