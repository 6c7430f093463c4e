"""Built-in system jobs of the alerts app (visible and controllable like any job)."""

from __future__ import annotations

from typing import Any

from jobs.definitions import job


@job(
    name="alerts-escalate",
    cron="*/5 * * * *",
    overlap="skip",
    timeout="5m",
    max_retries=0,
    description="Escalate unacknowledged high/critical alerts; re-queue deliveries whose message was lost",
    tags=["system", "alerts"],
)
def alerts_escalate(ctx) -> dict[str, Any]:
    from alerts.services import alerts_escalate as escalate
    from alerts.services import deliveries_requeue

    return {"escalated": escalate(), "deliveries_requeued": deliveries_requeue()}


@job(
    name="alerts-cleanup",
    cron="45 3 * * *",
    overlap="skip",
    timeout="30m",
    max_retries=0,
    description="Delete resolved alerts older than ALERTS_RETENTION_DAYS",
    tags=["system", "alerts"],
    overridable_parameters=["older_than_days"],
)
def alerts_cleanup(ctx) -> dict[str, Any]:
    from alerts.services import alerts_cleanup as cleanup

    days = (ctx.parameters or {}).get("older_than_days")
    return {"deleted": cleanup(older_than_days=int(days) if days else None)}
