"""What a notification says: one frozen payload per delivery (pure functions)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from alerts.models import Alert

EVENT_PREFIX = {
    "opened": "",
    "repeated": "[again] ",
    "escalated": "[ESCALATED] ",
    "resolved": "[resolved] ",
    "test": "[test] ",
}


def alert_summary(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "type": alert.type,
        "severity": alert.severity,
        "status": alert.status,
        "title": alert.title,
        "message": alert.message,
        "job": alert.job_name or None,
        "run": str(alert.run_id) if alert.run_id else None,
        "area": alert.area or None,
        "occurrences": alert.occurrences,
        "created_at": alert.created_at.isoformat(),
        "last_seen_at": alert.last_seen_at.isoformat(),
        "resolution_notes": alert.resolution_notes or None,
    }


def alert_url(alert: Alert) -> str:
    return f"{settings.ALERTS_BASE_URL.rstrip('/')}/admin/alerts/alert/{alert.pk}/change/"


def render(alert: Alert, event: str, suppressed: dict[str, Any] | None = None) -> dict[str, Any]:
    """Subject, plain text and structured data for one notification."""
    summary = alert_summary(alert)
    subject = f"{EVENT_PREFIX.get(event, '')}[{alert.severity.upper()}] {alert.title}"
    lines = [alert.message or alert.title, ""]
    if alert.job_name:
        lines.append(f"Job: {alert.job_name}")
    if alert.area:
        lines.append(f"Area: {alert.area}")
    if alert.run_id:
        lines.append(f"Run: {alert.run_id}")
    lines.append(
        f"Severity: {alert.severity}   Status: {alert.status}   Occurrences: {alert.occurrences}"
    )
    if event == "resolved" and alert.resolution_notes:
        lines.append(f"Resolution: {alert.resolution_notes}")
    if suppressed and suppressed.get("count"):
        lines.append("")
        lines.append(
            f"{suppressed['count']} notification(s) for this job were held back by the "
            f"hourly limit since the last one:"
        )
        for item in suppressed.get("alerts", []):
            lines.append(f"  - #{item['id']} {item['title']}: {item['count']}×")
    lines += ["", alert_url(alert)]
    return {
        "event": event,
        "subject": subject[:250],
        "text": "\n".join(lines),
        "alert": summary,
        "suppressed": suppressed or None,
        "url": alert_url(alert),
    }
