"""Reads about compliance rules and past checks."""

from __future__ import annotations

from django.db.models import QuerySet

from compliance.models import Rule
from jobs.errors import ValidationError
from jobs.models import JobRun

JOB_NAME = "compliance-check"


def rule_list(*, area: str | None = None, enabled: str | bool | None = None) -> QuerySet[Rule]:
    from compliance.services import rules_sync

    rules_sync()  # Python checks appear as soon as their code is deployed
    qs = Rule.objects.all()
    if area:
        qs = qs.filter(area=area)
    if enabled not in (None, ""):
        flag = str(enabled).lower()
        if flag not in ("true", "false", "1", "0"):
            raise ValidationError("enabled must be true or false", fields={"enabled": "invalid"})
        qs = qs.filter(enabled=flag in ("true", "1"))
    return qs.order_by("area", "name")


def compliance_runs() -> QuerySet[JobRun]:
    """Runs of the compliance job, newest first."""
    return JobRun.objects.filter(job__name=JOB_NAME).select_related("job").order_by("-queued_at")
