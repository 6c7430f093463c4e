"""Alerts, the channels they are delivered through, and every delivery attempt.

An Alert is one problem with a lifecycle (open → acknowledged → resolved).
While it is open, new occurrences of the same problem (same fingerprint:
type + job + area) increment it instead of opening another one; a partial
unique index makes that hold under concurrency.

A Notification is one decision to tell people about an alert (it opened, it
happened again, it was escalated, it was resolved), either sent or suppressed
by the per-job throttle. Each sent notification fans out into one Delivery per
target (channel or e-mail list), each tried by a Celery task with every
attempt recorded as a DeliveryAttempt.

Model methods answer facts about one row, without I/O.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.db.models import Q
from django.utils import timezone


class AlertType(models.TextChoices):
    JOB_FAILURE = "job_failure", "Job failure"
    JOB_AUTO_DISABLED = "job_auto_disabled", "Job auto-disabled"
    MISSED_RUN = "missed_run", "Missed run"
    STUCK_RUN = "stuck_run", "Stuck run"
    DURATION_ANOMALY = "duration_anomaly", "Duration anomaly"
    DURATION_EXCEEDED = "duration_exceeded", "Duration exceeded"
    HEALTH_CRITICAL = "health_critical", "Health critical"
    COMPLIANCE_VIOLATION = "compliance_violation", "Compliance violation"
    COMPLIANCE_RULE_ERROR = "compliance_rule_error", "Compliance rule error"
    NOTIFICATION_FAILURE = "notification_failure", "Notification failure"
    SYSTEM_ERROR = "system_error", "System error"
    # Informational: a job with notify_on_success succeeded. Created resolved,
    # so it never counts as an active problem; it exists so the notification
    # has something to point at and is recorded like every other.
    JOB_SUCCEEDED = "job_succeeded", "Job succeeded"


class Severity(models.TextChoices):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @classmethod
    def rank(cls, value: str) -> int:
        return SEVERITY_ORDER.index(value)

    @classmethod
    def at_least(cls, value: str) -> list[str]:
        """The severities >= `value`, for `severity__in=` filters."""
        return SEVERITY_ORDER[SEVERITY_ORDER.index(value) :]


SEVERITY_ORDER = [
    Severity.LOW.value,
    Severity.MEDIUM.value,
    Severity.HIGH.value,
    Severity.CRITICAL.value,
]


class AlertStatus(models.TextChoices):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"

    @classmethod
    def active(cls) -> tuple[str, str]:
        return (cls.OPEN.value, cls.ACKNOWLEDGED.value)


class AlertQuerySet(models.QuerySet["Alert"]):
    def active(self) -> AlertQuerySet:
        """Open or acknowledged: not resolved yet."""
        return self.filter(status__in=AlertStatus.active())

    def min_severity(self, severity: str) -> AlertQuerySet:
        return self.filter(severity__in=Severity.at_least(severity))

    def escalation_due(self, now, first_after: timedelta, max_times: int) -> AlertQuerySet:
        """High/critical alerts still open (not acknowledged) whose next
        escalation is due at `now`: the first `first_after` after opening,
        each next one after twice the previous wait (escalation n waits
        first_after * 2^(n-1) from escalation n-1), at most `max_times`."""
        due = Q(escalation_level=0, created_at__lte=now - first_after)
        for level in range(1, max_times):
            due |= Q(escalation_level=level, escalated_at__lte=now - first_after * 2**level)
        return self.filter(
            due,
            status=AlertStatus.OPEN,
            severity__in=Severity.at_least(Severity.HIGH),
            escalation_level__lt=max_times,
        )


class Alert(models.Model):
    type = models.CharField(max_length=32, choices=AlertType.choices, db_index=True)
    severity = models.CharField(max_length=8, choices=Severity.choices, db_index=True)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    title = models.CharField(max_length=300)
    message = models.TextField(blank=True)
    # The job row may be deleted; the name stays so the history still reads.
    job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    job_name = models.CharField(max_length=200, blank=True, db_index=True)
    run = models.ForeignKey(
        "jobs.JobRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    area = models.CharField(max_length=200, blank=True, db_index=True)
    details = models.JSONField(default=dict, blank=True)
    fingerprint = models.CharField(max_length=300, db_index=True)

    occurrences = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_seen_at = models.DateTimeField(default=timezone.now)

    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)
    resolution_notes = models.TextField(blank=True)

    # The latest escalation, and how many there were (each raised severity
    # one step, up to critical).
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    # Notifications the per-job throttle held back for this alert.
    suppressed_count = models.PositiveIntegerField(default=0)

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("acknowledge_alert", "Can acknowledge and resolve alerts"),
            ("manage_channels", "Can create, edit and test notification channels"),
        ]
        indexes = [
            models.Index(fields=["status", "severity"], name="alert_status_severity"),
            models.Index(fields=["job", "status"], name="alert_job_status"),
            models.Index(fields=["status", "resolved_at"], name="alert_status_resolved"),
        ]
        constraints = [
            # De-duplication holds even when two workers raise the same
            # problem at once: only one unresolved alert per fingerprint.
            models.UniqueConstraint(
                fields=["fingerprint"],
                condition=~Q(status="resolved"),
                name="alert_one_active_per_fingerprint",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} [{self.severity}] {self.title}"

    @staticmethod
    def make_fingerprint(type: str, job_name: str = "", area: str = "") -> str:
        return f"{type}|{job_name}|{area}"

    @property
    def is_active(self) -> bool:
        return self.status in AlertStatus.active()

    @property
    def time_to_acknowledge(self) -> timedelta | None:
        return self.acknowledged_at - self.created_at if self.acknowledged_at else None

    @property
    def time_to_resolve(self) -> timedelta | None:
        return self.resolved_at - self.created_at if self.resolved_at else None

    @property
    def escalated_severity(self) -> str:
        """One step up from the current severity, critical staying critical."""
        return SEVERITY_ORDER[min(Severity.rank(self.severity) + 1, len(SEVERITY_ORDER) - 1)]

    @property
    def requires_immediate_attention(self) -> bool:
        return self.status == AlertStatus.OPEN and Severity.rank(self.severity) >= Severity.rank(
            Severity.HIGH
        )


class ChannelKind(models.TextChoices):
    EMAIL = "email", "E-mail"
    LOG = "log", "Log (the worker's output)"
    SLACK = "slack", "Slack incoming webhook"
    TEAMS = "teams", "Microsoft Teams webhook"
    WEBHOOK = "webhook", "Generic JSON webhook (HMAC-signed)"


class Channel(models.Model):
    """Where notifications go. Webhook URLs and signing secrets are secrets
    (a Slack/Teams URL alone lets anyone post): they live encrypted in
    `secrets`, never in `config`."""

    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    enabled = models.BooleanField(default=True)
    # Public settings: e-mail recipients, a display label.
    config = models.JSONField(default=dict, blank=True)
    secrets = models.TextField(blank=True, default="")
    min_severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.LOW)
    # Global default: used for jobs that name no channels and for alerts
    # without a job.
    is_default = models.BooleanField(default=False)
    # Receives escalations of unacknowledged high/critical alerts.
    escalation = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def accepts(self, severity: str) -> bool:
        return Severity.rank(severity) >= Severity.rank(self.min_severity)


class NotificationEvent(models.TextChoices):
    OPENED = "opened"
    REPEATED = "repeated"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    TEST = "test"


class Notification(models.Model):
    """One decision to notify about an alert, sent or throttled."""

    alert = models.ForeignKey(
        Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    job_name = models.CharField(max_length=200, blank=True)
    event = models.CharField(max_length=16, choices=NotificationEvent.choices)
    suppressed = models.BooleanField(default=False)
    # The sent notification whose message summarised this suppressed one.
    summarized_in = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="summarizes"
    )
    # What the next sent notification said about the ones held back.
    suppressed_summary = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["job_name", "suppressed", "created_at"], name="notif_job_throttle")
        ]

    def __str__(self) -> str:
        return f"{self.event} alert #{self.alert_id}{' (suppressed)' if self.suppressed else ''}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"  # waiting for its (next) attempt
    SENT = "sent"
    FAILED = "failed"  # gave up after the last retry


class Delivery(models.Model):
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    alert = models.ForeignKey(
        Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    # Null for a job's own notification_emails (no channel row needed).
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    # For display: addresses, or the channel name for webhooks (URLs are secret).
    target = models.CharField(max_length=1000)
    # The rendered message, frozen at creation so retries send the same thing.
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Set while one worker sends it (alerts.services.delivery): the send runs
    # outside any transaction, so this, not a row lock, keeps a redelivered
    # task message from sending it twice at once.
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_status_next")]

    def __str__(self) -> str:
        return f"{self.kind} → {self.target} ({self.status})"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    channel_name = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=16)
    target = models.CharField(max_length=1000)
    ok = models.BooleanField()
    error = models.TextField(blank=True)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery #{self.delivery_id}: {'ok' if self.ok else self.error[:80]}"
