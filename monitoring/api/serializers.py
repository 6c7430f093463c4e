"""Response shapes of the monitoring endpoints. The selectors build plain
dicts; rendering through these keeps the OpenAPI schema and the JSON equal."""

from __future__ import annotations

from rest_framework import serializers

from jobs.api.serializers import IsoDateTimeField
from jobs.models import AuditEvent


class DurationsSerializer(serializers.Serializer):
    min = serializers.FloatField(allow_null=True)
    avg = serializers.FloatField(allow_null=True)
    median = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)


class AvailabilitySerializer(serializers.Serializer):
    percent = serializers.FloatField(
        allow_null=True, help_text="successful scheduled runs / expected fires x 100"
    )
    successful_scheduled_runs = serializers.IntegerField()
    expected_runs = serializers.IntegerField(
        help_text="fires of the cron in the window (DST-aware)"
    )


class RecentRunSerializer(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.CharField()
    trigger = serializers.CharField()
    attempt = serializers.IntegerField()
    queued_at = IsoDateTimeField()
    started_at = IsoDateTimeField(allow_null=True)
    finished_at = IsoDateTimeField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)


class CommonErrorSerializer(serializers.Serializer):
    message = serializers.CharField(help_text="first line, numbers and ids normalised")
    count = serializers.IntegerField()
    last_seen = IsoDateTimeField(allow_null=True)
    example = serializers.CharField(allow_blank=True)


class DailySerializer(serializers.Serializer):
    date = serializers.DateField(help_text="a day of the job's own time zone")
    runs = serializers.IntegerField()
    successes = serializers.IntegerField()
    failures = serializers.IntegerField()
    avg_duration_ms = serializers.FloatField(allow_null=True)


class JobStatsSerializer(serializers.Serializer):
    job = serializers.CharField()
    # `from` is a keyword: declared below via get_fields.
    to = IsoDateTimeField()
    timezone = serializers.CharField()
    total = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    skipped = serializers.IntegerField()
    active = serializers.IntegerField()
    success_rate = serializers.FloatField(allow_null=True)
    duration_ms = DurationsSerializer()
    consecutive_failures = serializers.IntegerField()
    max_consecutive_failures = serializers.IntegerField()
    longest_downtime_seconds = serializers.FloatField(allow_null=True)
    availability = AvailabilitySerializer()
    recent_runs = RecentRunSerializer(many=True)
    common_errors = CommonErrorSerializer(many=True)
    daily = DailySerializer(many=True)

    def get_fields(self):
        fields = super().get_fields()
        ordered = {"job": fields.pop("job"), "from": IsoDateTimeField()}
        ordered.update(fields)
        return ordered


class HealthIssueSerializer(serializers.Serializer):
    type = serializers.CharField()
    severity = serializers.ChoiceField(choices=["warning", "critical"])
    message = serializers.CharField()
    details = serializers.DictField()


class JobHealthSerializer(serializers.Serializer):
    job = serializers.CharField()
    level = serializers.ChoiceField(choices=["healthy", "warning", "critical", "unknown"])
    is_healthy = serializers.BooleanField()
    issues = HealthIssueSerializer(many=True)
    checked_at = IsoDateTimeField(allow_null=True)
    level_since = IsoDateTimeField(allow_null=True)


class HealthChangeSerializer(serializers.Serializer):
    at = IsoDateTimeField()
    previous = serializers.CharField()
    current = serializers.CharField()


class JobHealthDetailSerializer(JobHealthSerializer):
    recent_changes = HealthChangeSerializer(many=True)


class StatusJobsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    enabled = serializers.IntegerField()
    disabled = serializers.IntegerField()
    healthy = serializers.IntegerField()
    warning = serializers.IntegerField()
    critical = serializers.IntegerField()
    unknown = serializers.IntegerField()


class StatusRunsSerializer(serializers.Serializer):
    running = serializers.IntegerField()
    queued = serializers.IntegerField()


class WorkersSerializer(serializers.Serializer):
    count = serializers.IntegerField(allow_null=True)
    names = serializers.ListField(child=serializers.CharField())
    error = serializers.CharField(allow_null=True)


class Last24hSerializer(serializers.Serializer):
    runs = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    success_rate = serializers.FloatField(allow_null=True)
    avg_duration_ms = serializers.FloatField(allow_null=True)
    runs_per_hour = serializers.FloatField()


class ProblemSerializer(serializers.Serializer):
    job = serializers.CharField()
    level = serializers.CharField()
    enabled = serializers.BooleanField()
    since = IsoDateTimeField(allow_null=True)
    issues = serializers.ListField(child=serializers.CharField())


class SystemStatusSerializer(serializers.Serializer):
    checked_at = IsoDateTimeField()
    jobs = StatusJobsSerializer()
    runs = StatusRunsSerializer()
    workers = WorkersSerializer(allow_null=True)
    last_24h = Last24hSerializer()
    problematic_jobs = ProblemSerializer(many=True)
    active_alerts = serializers.DictField(
        child=serializers.IntegerField(), allow_null=True, help_text="open alerts by severity"
    )


class FireSerializer(serializers.Serializer):
    at = serializers.CharField(help_text="local time with its UTC offset")
    utc = serializers.CharField()
    utc_offset = serializers.CharField()
    zone_abbreviation = serializers.CharField()


class SchedulePreviewSerializer(serializers.Serializer):
    job = serializers.CharField()
    cron = serializers.CharField(allow_null=True)
    timezone = serializers.CharField()
    enabled = serializers.BooleanField()
    count = serializers.IntegerField()
    fires = FireSerializer(many=True)


class AuditEventSerializer(serializers.ModelSerializer):
    at = IsoDateTimeField()

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "actor",
            "source",
            "client_ip",
            "action",
            "target_type",
            "target",
            "job_name",
            "changes",
            "reason",
        ]
        read_only_fields = fields


class CleanupRequestSerializer(serializers.Serializer):
    older_than_days = serializers.IntegerField(min_value=1, max_value=36_500)
    batch_size = serializers.IntegerField(min_value=1, max_value=100_000, required=False)


class CleanupResultSerializer(serializers.Serializer):
    deleted = serializers.IntegerField()
    older_than_days = serializers.IntegerField()
