"""The JSON shape of a job and of a run: one shape for the REST API and the
CLI's --json (both render through these serializers).

Read-only: writes go through jobs.specs (validation) and jobs.services.
Conventions (issue 2 §7): statuses/triggers/overlap are lower-case words;
times are ISO 8601 with an explicit offset; durations are seconds, except
`*_ms` fields in milliseconds; a job's config is always masked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from rest_framework import serializers
from rest_framework.fields import Field, SkipField, is_simple_callable
from rest_framework.relations import PKOnlyObject

from jobs.models import Job, JobRun, ScheduleType
from jobs.schedule import ScheduleError, describe
from jobs.secrets import masked_config, masked_parameters
from jobs.specs.fields import DISABLED_FIELDS, MONITORING_FIELDS, POLICY_FIELDS, RUN_STATE_FIELDS


class IsoDateTimeField(serializers.DateTimeField):
    """ISO 8601 in UTC with an explicit `+00:00` offset (DRF would write `Z`)."""

    def to_representation(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()


_MISSING = object()


class LeanReadSerializer(serializers.ModelSerializer):
    """DRF's to_representation, minus its general attribute lookup for the
    common case.

    DRF walks every field's source through Field.get_attribute (dotted paths,
    mappings, callables, error wrapping): measured, a third of serializing a
    1,000-job list. A field that keeps that method and reads one plain
    attribute (or the whole object, as method fields do) is read here
    directly; any other field (relations, dotted sources, a callable value)
    takes DRF's own path. The output is the same."""

    @cached_property
    def _lean_plan(self) -> list[tuple[str, str | None, Field]]:
        return [(field.field_name, _direct_source(field), field) for field in self._readable_fields]

    def to_representation(self, instance: Any) -> dict[str, Any]:
        ret: dict[str, Any] = {}
        for name, attr, field in self._lean_plan:
            if attr == "*":
                value = instance
            else:
                value = _MISSING if attr is None else getattr(instance, attr, _MISSING)
                if value is _MISSING or is_simple_callable(value):
                    # DRF's own path, as in ModelSerializer.to_representation
                    try:
                        value = field.get_attribute(instance)
                    except SkipField:
                        continue
                    if isinstance(value, PKOnlyObject) and value.pk is None:
                        value = None
            ret[name] = None if value is None else field.to_representation(value)
        return ret


def _direct_source(field: Field) -> str | None:
    """The one attribute `field` reads, "*" for the whole object, or None
    where DRF's own lookup must run."""
    if type(field).get_attribute is not Field.get_attribute:
        return None
    if not field.source_attrs:
        return "*"
    return field.source_attrs[0] if len(field.source_attrs) == 1 else None


def human_schedule(job: Job) -> str:
    """How a person reads the job's schedule: 'At 02:00', 'Manual only', ..."""
    if job.schedule_type == ScheduleType.MANUAL or (
        job.schedule_type == ScheduleType.RECURRING and not job.cron
    ):
        return "Manual only"
    if job.schedule_type == ScheduleType.ONCE:
        if job.run_at is None:
            return "Once (time not set)"
        return f"Once at {job.run_at.astimezone(UTC).isoformat()}"
    try:
        text = describe(job.cron)
    except ScheduleError:
        return job.cron  # a row saved before validation existed must still list
    return text if job.timezone == "UTC" else f"{text} ({job.timezone})"


class JobSerializer(LeanReadSerializer):
    config = serializers.SerializerMethodField()
    parameters = serializers.SerializerMethodField()
    human_schedule = serializers.SerializerMethodField()
    owner = serializers.SerializerMethodField()
    success_rate = serializers.FloatField(read_only=True)
    cron = serializers.SerializerMethodField()
    # Monitoring keys (issue 4). Health comes from the stored JobHealth row and
    # is_running from an EXISTS annotation: monitoring.selectors.job_queryset()
    # loads both in the list query; other callers fall back to a query per job.
    health = serializers.SerializerMethodField()
    health_issues = serializers.SerializerMethodField()
    is_healthy = serializers.SerializerMethodField()
    requires_attention = serializers.SerializerMethodField()
    is_running = serializers.SerializerMethodField()
    time_until_next_run = serializers.SerializerMethodField()

    next_run_at = IsoDateTimeField(read_only=True)
    run_at = IsoDateTimeField(read_only=True)
    last_run_at = IsoDateTimeField(read_only=True)
    last_success_at = IsoDateTimeField(read_only=True)
    last_failure_at = IsoDateTimeField(read_only=True)
    disabled_at = IsoDateTimeField(read_only=True)
    created_at = IsoDateTimeField(read_only=True)
    updated_at = IsoDateTimeField(read_only=True)

    class Meta:
        model = Job
        fields = [
            # identity
            "name",
            "display_name",
            "description",
            "source",
            "kind",
            "target",
            "config",
            "parameters",
            "parameter_queries",
            "overridable_parameters",
            # schedule
            "enabled",
            "schedule_type",
            "cron",
            "timezone",
            "run_at",
            "human_schedule",
            "next_run_at",
            *DISABLED_FIELDS,
            # policies (durations in seconds)
            *POLICY_FIELDS,
            *MONITORING_FIELDS,
            "tags",
            "owner",
            # live state
            *RUN_STATE_FIELDS,
            # monitoring
            "health",
            "health_issues",
            "is_healthy",
            "requires_attention",
            "is_running",
            "time_until_next_run",
        ]
        read_only_fields = fields

    def _health(self, job: Job) -> Any:
        try:
            return job.health  # type: ignore[attr-defined]
        except ObjectDoesNotExist:
            return None

    def get_health(self, job: Job) -> str:
        """healthy / warning / critical / unknown (never evaluated or never ran)."""
        health = self._health(job)
        return health.level if health is not None else "unknown"

    def get_health_issues(self, job: Job) -> list[dict[str, Any]]:
        health = self._health(job)
        return list(health.issues) if health is not None else []

    def get_is_healthy(self, job: Job) -> bool:
        return self.get_health(job) == "healthy"

    def get_requires_attention(self, job: Job) -> bool:
        return self.get_health(job) in ("warning", "critical")

    def get_is_running(self, job: Job) -> bool:
        annotated = getattr(job, "is_running", None)
        if annotated is not None:
            return bool(annotated)
        return job.runs.filter(status="running").exists()

    def get_time_until_next_run(self, job: Job) -> float | None:
        """Seconds until the next scheduled run (null when none is due)."""
        if not job.enabled or job.next_run_at is None:
            return None
        return round(max((job.next_run_at - datetime.now(UTC)).total_seconds(), 0.0), 3)

    def get_config(self, job: Job) -> dict[str, Any]:
        return masked_config(job)

    def get_parameters(self, job: Job) -> dict[str, Any]:
        return masked_parameters(job.parameters or {})

    def get_human_schedule(self, job: Job) -> str:
        return human_schedule(job)

    def get_owner(self, job: Job) -> str | None:
        return job.owner.get_username() if job.owner_id and job.owner else None

    def get_cron(self, job: Job) -> str | None:
        # null, not "", for a job that has no cron (manual-only / one-off):
        # the same value `jobs apply` accepts back.
        return job.cron or None


class JobRunSerializer(LeanReadSerializer):
    job = serializers.SlugRelatedField(slug_field="name", read_only=True)
    first_attempt = serializers.PrimaryKeyRelatedField(read_only=True)
    scheduled_for = IsoDateTimeField(read_only=True)
    queued_at = IsoDateTimeField(read_only=True)
    started_at = IsoDateTimeField(read_only=True)
    finished_at = IsoDateTimeField(read_only=True)
    heartbeat_at = IsoDateTimeField(read_only=True)
    cancel_requested_at = IsoDateTimeField(read_only=True)

    class Meta:
        model = JobRun
        fields = [
            "id",
            "job",
            "status",
            "trigger",
            "triggered_by",
            "reason",
            "attempt",
            "first_attempt",
            "parameters",
            "scheduled_for",
            "queued_at",
            "started_at",
            "finished_at",
            "duration_ms",
            "progress",
            "progress_message",
            "result",
            "output",
            "output_truncated",
            "stderr",
            "exit_code",
            "error",
            "traceback",
            "worker",
            "pid",
            "heartbeat_at",
            "cancel_requested_at",
            "metadata",
        ]
        read_only_fields = fields


class JobRunSummarySerializer(JobRunSerializer):
    """A run in a list: without the bulky text fields (output, traceback)."""

    class Meta(JobRunSerializer.Meta):
        fields = [
            f
            for f in JobRunSerializer.Meta.fields
            if f not in ("output", "stderr", "traceback", "metadata")
        ]
        read_only_fields = fields
