"""The JSON shape of compliance rules and runs (API and CLI --json)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from compliance.models import Rule
from jobs.api.serializers import IsoDateTimeField, JobRunSerializer
from jobs.services.audit import SECRET_MASK


class RuleSerializer(serializers.ModelSerializer):
    connection = serializers.SerializerMethodField(help_text="masked ODBC connection string")
    timeout = serializers.FloatField(allow_null=True, help_text="seconds")
    created_at = IsoDateTimeField()
    updated_at = IsoDateTimeField()

    class Meta:
        model = Rule
        fields = [
            "id",
            "name",
            "kind",
            "area",
            "description",
            "enabled",
            "database",
            "connection",
            "query",
            "params",
            "row_limit",
            "timeout",
            "created_at",
            "updated_at",
        ]

    def get_connection(self, rule: Rule) -> str | None:
        return SECRET_MASK if rule.connection_secret else None


class RuleWrite(serializers.Serializer):
    """Documents the request body; validation is the service's."""

    name = serializers.SlugField(required=False)
    area = serializers.CharField(required=False)
    description = serializers.CharField(required=False)
    enabled = serializers.BooleanField(required=False)
    database = serializers.CharField(required=False, help_text="Django alias")
    connection = serializers.CharField(
        required=False, help_text="ODBC connection string (write-only)"
    )
    query = serializers.CharField(required=False)
    params = serializers.ListField(required=False)
    row_limit = serializers.IntegerField(required=False, allow_null=True)
    timeout = serializers.CharField(required=False, allow_null=True, help_text="seconds or 30s, 2m")


class ComplianceRunRequest(serializers.Serializer):
    rules = serializers.ListField(child=serializers.CharField(), required=False)
    area = serializers.CharField(required=False)
    reason = serializers.CharField(required=False)
    force = serializers.BooleanField(required=False)


class ComplianceRunSerializer(JobRunSerializer):
    """A run of the compliance job: the run JSON plus its totals up front."""

    totals = serializers.SerializerMethodField()

    class Meta(JobRunSerializer.Meta):
        fields = [*JobRunSerializer.Meta.fields, "totals"]

    def get_totals(self, run: Any) -> dict[str, Any] | None:
        result = run.result if isinstance(run.result, dict) else {}
        return result.get("totals")
