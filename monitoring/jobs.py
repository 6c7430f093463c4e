"""Built-in system jobs, declared like any other code job (visible in the
job list, history and stats; an operator may reschedule or disable them)."""

from __future__ import annotations

from django.conf import settings

from jobs.actors import Actor
from jobs.definitions import job


@job(
    name="jobwarden-health-refresh",
    cron=settings.MONITORING_HEALTH_REFRESH_CRON,
    description="Re-evaluate and store the health of every job (missed and stuck runs included)",
    timeout="5m",
    overlap="skip",
    auto_disable_after=0,  # the watchdog must not switch itself off
    expected_max_duration="1m",
    tags=["system", "monitoring"],
)
def health_refresh(ctx):
    from monitoring.services import health_refresh as refresh

    summary = refresh()
    changed = summary["changed"]
    for change in changed:
        ctx.logger.info("%s: %s -> %s", change["job"], change["previous"], change["current"])
    return {"jobs": summary["jobs"], "levels": summary["levels"], "changed": len(changed)}


@job(
    name="jobwarden-runs-cleanup",
    cron=settings.MONITORING_CLEANUP_CRON,
    description="Delete finished runs older than the retention age, in small batches",
    parameters={"older_than_days": settings.JOBS_RUN_RETENTION_DAYS},
    timeout="2h",
    overlap="skip",
    tags=["system", "monitoring"],
)
def runs_cleanup(ctx):
    from monitoring.services import runs_cleanup as cleanup

    days = ctx.parameters.get("older_than_days", settings.JOBS_RUN_RETENTION_DAYS)

    def on_batch(total: int) -> None:
        ctx.heartbeat()
        ctx.check_cancelled()

    deleted = cleanup(days, actor=Actor.system(), on_batch=on_batch)
    ctx.logger.info("deleted %d runs older than %s days", deleted, days)
    return {"deleted": deleted, "older_than_days": days}
