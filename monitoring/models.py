"""Stored health: the latest verdict per job, and every change of level.

Health is computed by monitoring.services.health_refresh (periodically and
after runs) and stored here so every read — API, CLI, status page — is one
indexed lookup instead of a computation over the runs table.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class HealthLevel(models.TextChoices):
    HEALTHY = "healthy"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"  # never ran, nothing wrong known

    @classmethod
    def rank(cls, level: str) -> int:
        """Higher is worse; used to sort 'worst first' and to pick a job's level."""
        return _RANK.get(level, 1)


_RANK = {
    HealthLevel.HEALTHY: 0,
    HealthLevel.UNKNOWN: 1,
    HealthLevel.WARNING: 2,
    HealthLevel.CRITICAL: 3,
}


class IssueType(models.TextChoices):
    CONSECUTIVE_FAILURES = "consecutive_failures"
    LOW_SUCCESS_RATE = "low_success_rate"
    NEVER_SUCCEEDED = "never_succeeded"
    LONG_EXECUTION = "long_execution"
    DURATION_ANOMALY = "duration_anomaly"
    MISSED_EXECUTION = "missed_execution"
    STUCK_RUN = "stuck_run"
    AUTO_DISABLED = "auto_disabled"


class JobHealth(models.Model):
    job = models.OneToOneField(
        "jobs.Job", on_delete=models.CASCADE, primary_key=True, related_name="health"
    )
    level = models.CharField(
        max_length=16, choices=HealthLevel.choices, default=HealthLevel.UNKNOWN
    )
    # [{"type": IssueType, "severity": "warning"|"critical", "message": str, "details": {...}}]
    issues = models.JSONField(default=list, blank=True)
    checked_at = models.DateTimeField(default=timezone.now)
    # When the level last changed (how long a job has been critical).
    level_since = models.DateTimeField(default=timezone.now)
    # An operator's "reset health": the window rules only look at runs after it.
    reset_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "job health"
        indexes = [models.Index(fields=["level"], name="health_level")]

    def __str__(self) -> str:
        return f"{self.job_id}: {self.level}"

    @property
    def is_healthy(self) -> bool:
        return self.level == HealthLevel.HEALTHY


class HealthEvent(models.Model):
    """One change of a job's health level (the alerts app turns these into alerts)."""

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="health_events")
    at = models.DateTimeField(default=timezone.now)
    previous = models.CharField(max_length=16, choices=HealthLevel.choices)
    current = models.CharField(max_length=16, choices=HealthLevel.choices)
    issues = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["job", "-at"], name="healthevent_job_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.job_id}: {self.previous} -> {self.current}"
