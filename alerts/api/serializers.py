"""The JSON shape of alerts, deliveries and channels: one shape for the REST
API and the CLI's --json. Read-only; writes go through alerts.services."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from alerts.models import Alert, Channel, ChannelKind, Delivery, DeliveryAttempt
from alerts.services.channels import masked_secrets
from jobs.api.serializers import IsoDateTimeField


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    at = IsoDateTimeField()

    class Meta:
        model = DeliveryAttempt
        fields = ["number", "at", "ok", "error", "response_status", "duration_ms"]


class DeliverySerializer(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel.name", default=None)
    event = serializers.CharField(source="notification.event")
    created_at = IsoDateTimeField()
    sent_at = IsoDateTimeField()
    next_attempt_at = IsoDateTimeField()
    attempt_log = DeliveryAttemptSerializer(many=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "event",
            "channel",
            "kind",
            "target",
            "status",
            "attempts",
            "last_error",
            "created_at",
            "sent_at",
            "next_attempt_at",
            "attempt_log",
        ]


class AlertSerializer(serializers.ModelSerializer):
    job = serializers.SerializerMethodField()
    run = serializers.SerializerMethodField()
    area = serializers.SerializerMethodField()
    created_at = IsoDateTimeField()
    last_seen_at = IsoDateTimeField()
    acknowledged_at = IsoDateTimeField()
    resolved_at = IsoDateTimeField()
    escalated_at = IsoDateTimeField()
    time_to_acknowledge = serializers.SerializerMethodField(help_text="seconds")
    time_to_resolve = serializers.SerializerMethodField(help_text="seconds")
    requires_immediate_attention = serializers.BooleanField()

    class Meta:
        model = Alert
        fields = [
            "id",
            "type",
            "severity",
            "status",
            "title",
            "message",
            "job",
            "run",
            "area",
            "details",
            "fingerprint",
            "occurrences",
            "created_at",
            "last_seen_at",
            "acknowledged_at",
            "acknowledged_by",
            "resolved_at",
            "resolved_by",
            "resolution_notes",
            "escalated_at",
            "escalation_level",
            "suppressed_count",
            "time_to_acknowledge",
            "time_to_resolve",
            "requires_immediate_attention",
        ]

    def get_job(self, alert: Alert) -> str | None:
        return alert.job_name or None

    def get_run(self, alert: Alert) -> str | None:
        return str(alert.run_id) if alert.run_id else None

    def get_area(self, alert: Alert) -> str | None:
        return alert.area or None

    def get_time_to_acknowledge(self, alert: Alert) -> float | None:
        value = alert.time_to_acknowledge
        return round(value.total_seconds(), 3) if value is not None else None

    def get_time_to_resolve(self, alert: Alert) -> float | None:
        value = alert.time_to_resolve
        return round(value.total_seconds(), 3) if value is not None else None


class AlertDetailSerializer(AlertSerializer):
    deliveries = DeliverySerializer(many=True)

    class Meta(AlertSerializer.Meta):
        fields = [*AlertSerializer.Meta.fields, "deliveries"]


class ChannelSerializer(serializers.ModelSerializer):
    secrets = serializers.SerializerMethodField(help_text="masked")
    created_at = IsoDateTimeField()
    updated_at = IsoDateTimeField()

    class Meta:
        model = Channel
        fields = [
            "id",
            "name",
            "kind",
            "enabled",
            "config",
            "secrets",
            "min_severity",
            "is_default",
            "escalation",
            "created_at",
            "updated_at",
        ]

    def get_secrets(self, channel: Channel) -> dict[str, Any]:
        return masked_secrets(channel)


class ResolveRequest(serializers.Serializer):
    notes = serializers.CharField(allow_blank=True, required=False, default="")


class ChannelWrite(serializers.Serializer):
    """Documents the request body; validation is the service's."""

    name = serializers.CharField(required=False)
    kind = serializers.ChoiceField(choices=ChannelKind.values, required=False)
    enabled = serializers.BooleanField(required=False)
    config = serializers.DictField(
        required=False, help_text="email: {recipients: [...]}; log: {level} (default warning)"
    )
    secrets = serializers.DictField(
        required=False, help_text="slack/teams: {url}; webhook: {url, secret}"
    )
    min_severity = serializers.ChoiceField(
        choices=["low", "medium", "high", "critical"], required=False
    )
    is_default = serializers.BooleanField(required=False)
    escalation = serializers.BooleanField(required=False)


class StatsSerializer(serializers.Serializer):
    """Shape of GET /alerts/stats/."""

    total = serializers.IntegerField()
    active = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    by_severity = serializers.DictField(child=serializers.IntegerField())
    by_type = serializers.DictField(child=serializers.IntegerField())
    by_area = serializers.DictField(child=serializers.IntegerField())
    mean_time_to_acknowledge = serializers.FloatField(allow_null=True, help_text="seconds")
    mean_time_to_resolve = serializers.FloatField(allow_null=True, help_text="seconds")
