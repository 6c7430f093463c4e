"""Who may do what with alerts. Reads follow the project default
(REST_FRAMEWORK's permission class: the viewer role); writes need a model
permission granted to the roles by alerts' data migration:
operator → alerts.acknowledge_alert; admin → alerts.manage_channels,
compliance.manage_rules. A job's owner may acknowledge/resolve its alerts."""

from __future__ import annotations

from typing import Any

from jobs.errors import Forbidden


def require_perm(user: Any, perm: str, action: str) -> None:
    if not (user and user.is_authenticated and user.has_perm(perm)):
        raise Forbidden(f"you do not have permission to {action}")


def require_alert_write(user: Any, alert: Any, action: str) -> None:
    owner_id = getattr(alert.job, "owner_id", None) if alert.job_id else None
    if user and user.is_authenticated and owner_id is not None and owner_id == user.pk:
        return
    require_perm(user, "alerts.acknowledge_alert", action)
