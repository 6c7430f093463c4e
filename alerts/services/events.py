"""Turning engine and monitoring events into alerts. The signal receivers in
alerts.receivers call exactly one function here each.

The per-run path must stay cheap: on a success with nothing to announce this
module makes no query at all — it decides from the job row the engine just
updated (notify flags, duration limit, last_failure_at).
"""

from __future__ import annotations

from typing import Any

from alerts.models import AlertType, Severity
from alerts.services.lifecycle import alert_raise, alert_resolve_success, alerts_resolve_recovered

FINAL_FAILURES = ("failed", "timed_out", "orphaned")

# Health issue type (monitoring) → (alert type, severity).
HEALTH_ISSUES = {
    "missed_execution": (AlertType.MISSED_RUN, Severity.HIGH),
    "stuck_run": (AlertType.STUCK_RUN, Severity.HIGH),
    "duration_anomaly": (AlertType.DURATION_ANOMALY, Severity.MEDIUM),
    "long_execution": (AlertType.DURATION_ANOMALY, Severity.MEDIUM),
}
HEALTH_ALERT_TYPES = [
    AlertType.MISSED_RUN,
    AlertType.STUCK_RUN,
    AlertType.DURATION_ANOMALY,
    AlertType.HEALTH_CRITICAL,
]


def is_final_failure(run: Any, job: Any, will_retry: bool = False) -> bool:
    """Failed with no retry to come. A plain failure that will be retried is
    recorded as `retrying`; a timed_out or orphaned attempt keeps its status,
    so the engine says whether its retry is scheduled."""
    return run.status in FINAL_FAILURES and not will_retry


def handle_run_finished(
    run: Any,
    job: Any,
    previous_consecutive_failures: int | None = None,
    *,
    will_retry: bool = False,
) -> None:
    """Raise, de-duplicate or resolve alerts for one finished run.

    `previous_consecutive_failures` (the job's count before this run, sent by
    the engine) tells a recovery apart from an ordinary success without a
    query; when it is unknown, a job that ever failed is checked.
    """
    status = run.status
    if status == "succeeded":
        limit = job.notify_on_duration_exceeds
        if limit and run.duration_ms is not None and run.duration_ms > limit * 1000:
            alert_raise(
                type=AlertType.DURATION_EXCEEDED,
                severity=Severity.MEDIUM,
                job=job,
                run=run,
                title=f"Job {job.name} ran longer than {limit:g}s",
                message=f"Run {run.id} took {run.duration_ms / 1000:.1f}s (limit {limit:g}s).",
                details={"duration_ms": run.duration_ms, "limit_seconds": limit},
            )
        if previous_consecutive_failures is None:
            # Only a job that has ever failed can have an open failure alert.
            recovering = job.last_failure_at is not None
        else:
            recovering = previous_consecutive_failures > 0
        if recovering:
            alerts_resolve_recovered(
                job,
                [AlertType.JOB_FAILURE],
                notes=f"Recovered: run {run.id} succeeded.",
            )
        if job.notify_on_success:
            alert_resolve_success(job, run)
        return
    if is_final_failure(run, job, will_retry):
        error = (run.error or "").strip().splitlines()
        first = error[0][:300] if error else status
        alert_raise(
            type=AlertType.JOB_FAILURE,
            severity=Severity.HIGH,
            job=job,
            run=run,
            title=f"Job {job.name} failed",
            message=(
                f"Run {run.id} (attempt {run.attempt}) ended {status}: {first}. "
                f"Consecutive failures: {job.consecutive_failures}."
            ),
            details={
                "status": status,
                "attempt": run.attempt,
                "error": (run.error or "")[:4000],
                "consecutive_failures": job.consecutive_failures,
            },
            notify_people=job.notify_on_failure,
        )


def handle_auto_disabled(job: Any, run: Any, reason: str) -> None:
    alert_raise(
        type=AlertType.JOB_AUTO_DISABLED,
        severity=Severity.CRITICAL,
        job=job,
        run=run,
        title=f"Job {job.name} was disabled automatically",
        message=reason or f"Disabled after {job.consecutive_failures} consecutive failures.",
        details={"reason": reason, "consecutive_failures": job.consecutive_failures},
    )


def handle_job_enabled(job: Any, enabled_by: str) -> None:
    """The job runs again: its auto-disable alert is over (resolved by the
    system, naming who re-enabled it). Nothing to do when none is active."""
    alerts_resolve_recovered(
        job, [AlertType.JOB_AUTO_DISABLED], notes=f"Job re-enabled by {enabled_by}."
    )


def handle_health_changed(
    job: Any, previous: str, current: str, issues: list[dict[str, Any]]
) -> None:
    """Health issues become alerts (de-duplicated per job and type); a job
    back to healthy has its health alerts resolved by the system."""
    current = (current or "").lower()
    if current == "healthy":
        alerts_resolve_recovered(
            job, HEALTH_ALERT_TYPES, notes=f"Health recovered ({previous} → healthy)."
        )
        return
    for issue in issues or []:
        issue_type = issue.get("type")
        mapped = HEALTH_ISSUES.get(issue_type) if isinstance(issue_type, str) else None
        if mapped is None:
            continue  # failures and auto-disable have their own alerts
        alert_type, severity = mapped
        alert_raise(
            type=alert_type,
            severity=severity,
            job=job,
            title=f"Job {job.name}: {issue.get('message') or issue.get('type')}"[:300],
            message=issue.get("message", ""),
            details={"issue": issue, "health": current},
        )
    if current == "critical":
        alert_raise(
            type=AlertType.HEALTH_CRITICAL,
            severity=Severity.CRITICAL,
            job=job,
            title=f"Job {job.name} health is critical",
            message="; ".join(i.get("message", i.get("type", "")) for i in issues or []),
            details={"previous": previous, "issues": issues or []},
        )
