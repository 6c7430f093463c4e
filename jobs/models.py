"""Job definitions, their runs, and the audit trail.

Model methods answer questions about one row without I/O; writes live in
jobs.services, reads in jobs.selectors.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_celery_beat.models import PeriodicTask


class JobKind(models.TextChoices):
    PYTHON = "python", "Python callable"
    PROCESS = "process", "OS process"
    HTTP = "http", "HTTP API call"
    SQL = "sql", "SQL stored procedure"


class ScheduleType(models.TextChoices):
    RECURRING = "recurring", "Recurring (cron)"
    MANUAL = "manual", "Manual only"
    ONCE = "once", "One-off"


class OverlapPolicy(models.TextChoices):
    SKIP = "skip", "Skip if running"
    QUEUE = "queue", "Queue one"
    ALLOW = "allow", "Allow concurrent"


class JobSource(models.TextChoices):
    CODE = "code", "Defined in code"
    DATABASE = "database", "Defined in the database"
    SYSTEM = "system", "Built-in system job"


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRYING = "retrying"  # this attempt failed; a retry run is scheduled
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    ORPHANED = "orphaned"

    @classmethod
    def active(cls) -> tuple[str, ...]:
        return (cls.QUEUED, cls.RUNNING)

    @classmethod
    def finished(cls) -> tuple[str, ...]:
        return tuple(s for s in cls.values if s not in cls.active())

    @classmethod
    def failures(cls) -> tuple[str, ...]:
        return (cls.FAILED, cls.RETRYING, cls.TIMED_OUT, cls.ORPHANED)


class JobStatus(models.TextChoices):
    """A job's live status: the state of its latest executed run."""

    IDLE = "idle"  # never ran
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRYING = "retrying"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    ORPHANED = "orphaned"


class RunTrigger(models.TextChoices):
    SCHEDULED = "scheduled"
    MANUAL = "manual"  # admin
    API = "api"
    CLI = "cli"
    RETRY = "retry"
    FORCED = "forced"
    CHAINED = "chained"
    CODE = "code"  # .delay() / run_trigger from application code


class JobQuerySet(models.QuerySet["Job"]):
    def enabled(self) -> JobQuerySet:
        return self.filter(enabled=True)

    def recurring(self) -> JobQuerySet:
        return self.filter(schedule_type=ScheduleType.RECURRING).exclude(cron="")

    def due(self, now: datetime | None = None) -> JobQuerySet:
        """Enabled recurring jobs whose next fire time has come."""
        now = now or timezone.now()
        return self.enabled().recurring().filter(next_run_at__lte=now)


class Job(models.Model):
    # --- identity
    name = models.SlugField(max_length=200, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=16, choices=JobSource.choices, default=JobSource.DATABASE)
    # Last definition synced from code; a deploy applies only the fields whose
    # code value changed since, so an operator's edits survive (jobs.definitions).
    code_spec = models.JSONField(default=dict, blank=True)

    # --- what runs
    kind = models.CharField(max_length=16, choices=JobKind.choices, default=JobKind.PYTHON)
    target = models.CharField(
        max_length=300, blank=True, help_text="module:function for python jobs"
    )
    config = models.JSONField(
        default=dict, blank=True, help_text="kind-specific settings (no secrets)"
    )
    secrets = models.TextField(blank=True, default="", help_text="encrypted kind-specific secrets")
    parameters = models.JSONField(default=dict, blank=True)
    parameter_queries = models.JSONField(default=list, blank=True)
    # Names people may override at trigger; null: the plain parameters
    # (jobs.params.overrides says which never are).
    overridable_parameters = models.JSONField(
        null=True,
        blank=True,
        default=None,
        help_text="parameter names operators may override at trigger; empty: the plain parameters",
    )

    # --- schedule
    schedule_type = models.CharField(
        max_length=16, choices=ScheduleType.choices, default=ScheduleType.RECURRING
    )
    cron = models.CharField(max_length=120, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    run_at = models.DateTimeField(null=True, blank=True, help_text="for one-off jobs")
    enabled = models.BooleanField(default=True)
    disabled_reason = models.TextField(blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_by = models.CharField(max_length=150, blank=True)

    # --- execution policy
    queue = models.CharField(max_length=100, blank=True)
    priority = models.PositiveSmallIntegerField(default=5, validators=[MaxValueValidator(9)])
    timeout = models.FloatField(default=1200, validators=[MinValueValidator(1)])
    max_retries = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(100)])
    retry_delay = models.FloatField(default=60, validators=[MinValueValidator(0)])
    retry_backoff = models.FloatField(default=2.0, validators=[MinValueValidator(1)])
    retry_jitter = models.FloatField(
        default=0.2, validators=[MinValueValidator(0), MaxValueValidator(1)]
    )
    retry_max_delay = models.FloatField(default=3600, validators=[MinValueValidator(0)])
    overlap = models.CharField(
        max_length=8, choices=OverlapPolicy.choices, default=OverlapPolicy.SKIP
    )
    auto_disable_after = models.PositiveIntegerField(default=5, help_text="0 = never")

    # --- monitoring thresholds
    expected_max_duration = models.FloatField(
        null=True, blank=True, help_text="seconds; default 1h"
    )
    min_duration = models.FloatField(null=True, blank=True, help_text="seconds")
    grace_time = models.FloatField(default=1800, help_text="seconds a fire may be late")

    # --- notification settings
    notify_on_failure = models.BooleanField(default=True)
    notify_on_success = models.BooleanField(default=False)
    notify_on_duration_exceeds = models.FloatField(null=True, blank=True, help_text="seconds")
    notification_emails = models.JSONField(default=list, blank=True)
    notification_channels = models.JSONField(default=list, blank=True)
    # Null = the global ALERTS_MAX_PER_JOB_PER_HOUR; a noisy job may need fewer,
    # a critical one more (seed 002's per-job MaxAlertsPerHour).
    max_alerts_per_hour = models.PositiveIntegerField(
        null=True, blank=True, help_text="empty = ALERTS_MAX_PER_JOB_PER_HOUR"
    )

    tags = models.JSONField(default=list, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # --- live state, updated with each run's end in the same transaction
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.IDLE)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    execution_count = models.PositiveIntegerField(default=0)
    success_count = models.PositiveIntegerField(default=0)
    failure_count = models.PositiveIntegerField(default=0)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_duration_ms = models.PositiveBigIntegerField(null=True, blank=True)
    avg_duration_ms = models.FloatField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # Not indexed: it changes with every run's end, and an index on it would
    # rule out PostgreSQL's in-place (HOT) update of this hot row.
    last_run = models.ForeignKey(
        "JobRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [
            ("trigger_job", "Can trigger, cancel, enable and disable jobs"),
            ("manage_execution_jobs", "Can create and edit process and SQL jobs"),
        ]
        indexes = [models.Index(fields=["enabled", "next_run_at"])]

    def __str__(self) -> str:
        return self.name

    # Facts about this row (no I/O).
    @property
    def is_recurring(self) -> bool:
        return self.schedule_type == ScheduleType.RECURRING and bool(self.cron)

    @property
    def success_rate(self) -> float | None:
        done = self.success_count + self.failure_count
        return round(100.0 * self.success_count / done, 2) if done else None

    @property
    def queue_name(self) -> str:
        return self.queue or settings.JOBS_DEFAULT_QUEUE

    @property
    def runs_arbitrary_code(self) -> bool:
        """Process and SQL jobs execute what their config says: editing them
        needs the dedicated permission."""
        return self.kind in (JobKind.PROCESS, JobKind.SQL)

    @property
    def is_auto_disabled(self) -> bool:
        """Disabled by the system after repeated failures (jobs.services.runs.retry),
        not by a person or because its code is gone."""
        return (
            not self.enabled
            and self.disabled_by == "system"
            and self.disabled_reason.startswith("auto-disabled")
        )

    def retry_delay_for(self, attempt: int) -> float:
        """Base delay (before jitter) before retry number `attempt` (1-based),
        never above retry_max_delay nor JOBS_MAX_DURATION (0 = no cap of the
        job's own; a row saved before the bounds must not overflow either)."""
        cap = float(settings.JOBS_MAX_DURATION)
        if self.retry_max_delay and 0 < self.retry_max_delay < cap:
            cap = self.retry_max_delay
        try:
            delay = self.retry_delay * (self.retry_backoff ** max(attempt - 1, 0))
        except OverflowError:
            return cap
        return min(delay, cap) if math.isfinite(delay) and delay >= 0 else cap

    def is_due(self, now: datetime) -> bool:
        return bool(
            self.enabled and self.is_recurring and self.next_run_at and self.next_run_at <= now
        )


class JobRunQuerySet(models.QuerySet["JobRun"]):
    def running(self) -> JobRunQuerySet:
        return self.filter(status=RunStatus.RUNNING)

    def active(self) -> JobRunQuerySet:
        return self.filter(status__in=RunStatus.active())

    def finished(self) -> JobRunQuerySet:
        return self.filter(status__in=RunStatus.finished())

    def stale(self, before: datetime) -> JobRunQuerySet:
        """Running runs whose heartbeat stopped before `before` (worker likely dead)."""
        return self.running().filter(
            Q(heartbeat_at__lt=before) | Q(heartbeat_at__isnull=True, started_at__lt=before)
        )


class JobRun(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexes are kept few: every run inserts and updates a row here. The
    # (job, -queued_at) index serves job_id lookups; first_attempt is
    # indexed only where set.
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs", db_index=False)
    attempt = models.PositiveIntegerField(default=1)
    first_attempt = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="retries",
        db_index=False,
    )
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices)
    triggered_by = models.CharField(max_length=150, default="system")
    reason = models.TextField(blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)

    scheduled_for = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveBigIntegerField(null=True, blank=True)

    worker = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)

    progress = models.FloatField(null=True, blank=True)
    progress_message = models.CharField(max_length=500, blank=True)
    result = models.JSONField(null=True, blank=True)
    output = models.TextField(blank=True)
    output_truncated = models.BooleanField(default=False)
    stderr = models.TextField(blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    objects = JobRunQuerySet.as_manager()

    class Meta:
        ordering = ["-queued_at"]
        indexes = [
            models.Index(fields=["job", "-queued_at"], name="run_job_latest"),
            models.Index(
                fields=["status", "heartbeat_at"],
                name="run_active_heartbeat",
                condition=Q(status__in=["queued", "running"]),
            ),
            models.Index(
                fields=["first_attempt"],
                name="run_first_attempt",
                condition=Q(first_attempt__isnull=False),
            ),
            models.Index(fields=["queued_at"], name="run_queued_at"),
            models.Index(fields=["job", "status", "-finished_at"], name="run_job_status_finished"),
        ]
        constraints = [
            # A scheduled fire produces at most one run, however often beat
            # dispatches it (two beats, a redelivered message).
            models.UniqueConstraint(
                fields=["job", "scheduled_for"],
                condition=Q(trigger="scheduled"),
                name="run_unique_scheduled_fire",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.id}"

    @property
    def is_active(self) -> bool:
        return self.status in RunStatus.active()

    @property
    def is_finished(self) -> bool:
        return not self.is_active

    @property
    def duration(self) -> timedelta | None:
        return timedelta(milliseconds=self.duration_ms) if self.duration_ms is not None else None

    def due_for(self, now: datetime) -> float:
        """Seconds since this run became due: since it was queued, or since its
        scheduled time if that is later (a retry waits out its delay first).
        0 while it is not due yet."""
        due = max(self.queued_at, self.scheduled_for or self.queued_at)
        return max((now - due).total_seconds(), 0.0)


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    # Append-only: no bulk path may rewrite or erase the trail.
    def update(self, **kwargs):  # type: ignore[override]
        raise PermissionError("audit records are append-only")

    def delete(self):  # type: ignore[override]
        raise PermissionError("audit records are append-only")


class AuditSource(models.TextChoices):
    ADMIN = "admin"
    API = "api"
    CLI = "cli"
    SYSTEM = "system"
    CODE = "code"


class AuditEvent(models.Model):
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=150, db_index=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=16, choices=AuditSource.choices)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=32)
    target = models.CharField(max_length=255, db_index=True)
    job_name = models.CharField(max_length=200, blank=True, db_index=True)
    changes = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("audit records are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit records are append-only")


class BeatEntryQuerySet(models.QuerySet):
    def enabled(self):
        return self.filter(enabled=True).prefetch_related("interval", "crontab", "solar", "clocked")


class BeatEntry(PeriodicTask):
    """django-celery-beat's PeriodicTask, whose job entries fire on
    jobs.schedule's times (the DST rule) instead of Celery's crontab."""

    objects = BeatEntryQuerySet.as_manager()

    class Meta:
        proxy = True

    @property
    def schedule(self):
        from jobs.services.scheduling import FIRE_TASK

        if self.task == FIRE_TASK and self.crontab_id:
            from jobs.beat import JobCronSchedule

            c = self.crontab
            expr = f"{c.minute} {c.hour} {c.day_of_month} {c.month_of_year} {c.day_of_week}"
            return JobCronSchedule(expr, str(c.timezone))
        return super().schedule
