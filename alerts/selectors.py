"""Reads about alerts and channels (no writes here)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, F, QuerySet
from django.utils import timezone

from alerts.models import SEVERITY_ORDER, Alert, AlertStatus, AlertType, Channel
from jobs.errors import NotFound, ValidationError


def alert_counts_by_severity() -> dict[str, int]:
    """Active (open + acknowledged) alerts by severity, every severity present
    (0 when none): {"low": n, "medium": n, "high": n, "critical": n}.
    One aggregate query; used by the system status."""
    counts = dict.fromkeys(SEVERITY_ORDER, 0)
    rows = Alert.objects.active().values("severity").annotate(n=Count("id")).order_by()
    for row in rows:
        counts[row["severity"]] = row["n"]
    return counts


def alert_list(
    *,
    status: str | None = None,
    min_severity: str | None = None,
    type: str | None = None,
    job: str | None = None,
    area: str | None = None,
    run: str | None = None,
) -> QuerySet[Alert]:
    """Alerts newest first, filtered. `status` may be open, acknowledged,
    resolved or active (open + acknowledged); `run` is a run id (the run an
    alert was raised for; a repeated alert points at its latest run). Bad
    filter values are a ValidationError naming the filter."""
    qs = Alert.objects.all()
    if status:
        if status == "active":
            qs = qs.active()
        elif status in AlertStatus.values:
            qs = qs.filter(status=status)
        else:
            raise ValidationError(
                f"status must be one of {', '.join([*AlertStatus.values, 'active'])}",
                fields={"status": "invalid choice"},
            )
    if min_severity:
        if min_severity not in SEVERITY_ORDER:
            raise ValidationError(
                f"min_severity must be one of {', '.join(SEVERITY_ORDER)}",
                fields={"min_severity": "invalid choice"},
            )
        qs = qs.min_severity(min_severity)
    if type:
        if type not in AlertType.values:
            raise ValidationError(f"unknown alert type {type!r}", fields={"type": "invalid choice"})
        qs = qs.filter(type=type)
    if job:
        qs = qs.filter(job_name=job)
    if area:
        qs = qs.filter(area=area)
    if run:
        qs = qs.filter(run_id=_run_id(run))
    return qs.order_by("-created_at", "-id")


def _run_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except (ValueError, AttributeError):
        raise ValidationError(
            f"run: {value[:60]!r} is not a run id", fields={"run": "invalid"}
        ) from None


def alert_get(alert_id: Any) -> Alert:
    try:
        return Alert.objects.select_related("job").get(pk=int(alert_id))
    except (Alert.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"alert {alert_id} not found") from None


def _seconds(value: timedelta | None) -> float | None:
    return round(value.total_seconds(), 3) if value is not None else None


def alert_stats(
    date_from: datetime | None = None, date_to: datetime | None = None
) -> dict[str, Any]:
    """Alerts opened in [from, to) (default: the last 30 days): totals by
    status, severity, type and area; mean seconds to acknowledge and to
    resolve. Aggregates in the database."""
    date_to = date_to or timezone.now()
    date_from = date_from or date_to - timedelta(days=30)
    if date_from >= date_to:
        raise ValidationError("from must be before to", fields={"from": "after to"})
    qs = Alert.objects.filter(created_at__gte=date_from, created_at__lt=date_to).exclude(
        type=AlertType.JOB_SUCCEEDED
    )

    def by(field: str) -> dict[str, int]:
        return {
            (row[field] or ""): row["n"]
            for row in qs.values(field).annotate(n=Count("id")).order_by(field)
        }

    means = qs.aggregate(
        ack=Avg(F("acknowledged_at") - F("created_at")),
        resolve=Avg(F("resolved_at") - F("created_at")),
    )
    by_status = dict.fromkeys(AlertStatus.values, 0) | by("status")
    by_severity = dict.fromkeys(SEVERITY_ORDER, 0) | by("severity")
    by_area = by("area")
    by_area.pop("", None)
    return {
        "from": date_from,
        "to": date_to,
        "total": sum(by_status.values()),
        "active": by_status["open"] + by_status["acknowledged"],
        "by_status": by_status,
        "by_severity": by_severity,
        "by_type": by("type"),
        "by_area": by_area,
        "mean_time_to_acknowledge": _seconds(means["ack"]),
        "mean_time_to_resolve": _seconds(means["resolve"]),
    }


def channel_list() -> QuerySet[Channel]:
    return Channel.objects.all().order_by("name")
