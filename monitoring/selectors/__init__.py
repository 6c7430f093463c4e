"""All reads of the monitoring app: `from monitoring import selectors`."""

from monitoring.selectors.health import health_facts, health_list, job_health, stored_levels
from monitoring.selectors.lists import (
    audit_list,
    job_get,
    job_list,
    job_queryset,
    parse_bool,
    run_get,
    run_list,
    schedule_preview,
)
from monitoring.selectors.stats import job_stats, stats_window
from monitoring.selectors.status import active_alerts, system_status, workers_alive

__all__ = [
    "active_alerts",
    "audit_list",
    "health_facts",
    "health_list",
    "job_get",
    "job_health",
    "job_list",
    "job_queryset",
    "job_stats",
    "parse_bool",
    "run_get",
    "run_list",
    "schedule_preview",
    "stats_window",
    "stored_levels",
    "system_status",
    "workers_alive",
]
