"""Reads about alerts (no writes here)."""

from __future__ import annotations

from django.db.models import Count

from alerts.models import SEVERITY_ORDER, Alert


def alert_counts_by_severity() -> dict[str, int]:
    """Active (open + acknowledged) alerts by severity, every severity present
    (0 when none): {"low": n, "medium": n, "high": n, "critical": n}.
    One aggregate query; used by the system status."""
    counts = dict.fromkeys(SEVERITY_ORDER, 0)
    rows = Alert.objects.active().values("severity").annotate(n=Count("id")).order_by()
    for row in rows:
        counts[row["severity"]] = row["n"]
    return counts
