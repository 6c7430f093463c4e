"""The JSON shape of a job and of a run: one shape for the REST API and the
CLI's --json (both render through these serializers).

Read-only: writes go through jobs.specs (validation) and jobs.services.
Conventions (issue 2 §7): statuses/triggers/overlap are lower-case words;
times are ISO 8601 with an explicit offset; durations are seconds, except
`*_ms` fields in milliseconds; a job's config is always masked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rest_framework import serializers

from jobs.models import Job, JobRun, ScheduleType
from jobs.schedule import ScheduleError, describe
from jobs.secrets import masked_config


class IsoDateTimeField(serializers.DateTimeField):
    """ISO 8601 in UTC with an explicit `+00:00` offset (DRF would write `Z`)."""

    def to_representation(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()


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


class JobSerializer(serializers.ModelSerializer):
    config = serializers.SerializerMethodField()
    human_schedule = serializers.SerializerMethodField()
    owner = serializers.SerializerMethodField()
    success_rate = serializers.FloatField(read_only=True)
    cron = serializers.SerializerMethodField()

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
            # schedule
            "enabled",
            "schedule_type",
            "cron",
            "timezone",
            "run_at",
            "human_schedule",
            "next_run_at",
            "disabled_reason",
            "disabled_at",
            "disabled_by",
            # policies (durations in seconds)
            "queue",
            "priority",
            "timeout",
            "max_retries",
            "retry_delay",
            "retry_backoff",
            "retry_jitter",
            "retry_max_delay",
            "overlap",
            "auto_disable_after",
            "expected_max_duration",
            "min_duration",
            "grace_time",
            "notify_on_failure",
            "notify_on_success",
            "notify_on_duration_exceeds",
            "notification_emails",
            "notification_channels",
            "tags",
            "owner",
            # live state
            "status",
            "execution_count",
            "success_count",
            "failure_count",
            "success_rate",
            "consecutive_failures",
            "last_run_at",
            "last_success_at",
            "last_failure_at",
            "last_duration_ms",
            "avg_duration_ms",
            "last_error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_config(self, job: Job) -> dict[str, Any]:
        return masked_config(job)

    def get_human_schedule(self, job: Job) -> str:
        return human_schedule(job)

    def get_owner(self, job: Job) -> str | None:
        return job.owner.get_username() if job.owner_id and job.owner else None

    def get_cron(self, job: Job) -> str | None:
        # null, not "", for a job that has no cron (manual-only / one-off):
        # the same value `jobs apply` accepts back.
        return job.cron or None


class JobRunSerializer(serializers.ModelSerializer):
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
