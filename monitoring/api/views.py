"""Monitoring endpoints: stats, health, status, schedule preview, audit,
retention. Thin: parse, call one selector or service, render."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import CanView, PagePagination, actor_for, error_responses
from jobs.errors import ValidationError
from monitoring import selectors, services
from monitoring.api import serializers as s


class CanCleanUp(CanView):
    """Deleting history is an admin's call (the role that may delete jobs)."""

    message = "your role does not allow deleting run history (needs the admin role)"

    def has_permission(self, request: Request, view: APIView) -> bool:
        return super().has_permission(request, view) and request.user.has_perm("jobs.delete_job")


class JobStats(APIView):
    permission_classes = [CanView]

    @extend_schema(
        summary="Statistics of one job",
        parameters=[
            OpenApiParameter(
                "from",
                OpenApiTypes.DATETIME,
                description="window start (default: 30 days before `to`)",
            ),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="window end (default: now)"),
        ],
        responses={200: s.JobStatsSerializer, **error_responses(400, 404)},
    )
    def get(self, request: Request, name: str) -> Response:
        start, end = selectors.stats_window(
            request.query_params.get("from"), request.query_params.get("to")
        )
        return Response(s.JobStatsSerializer(selectors.job_stats(name, start, end)).data)


class JobHealth(APIView):
    permission_classes = [CanView]

    @extend_schema(
        summary="Stored health of one job",
        responses={200: s.JobHealthDetailSerializer, **error_responses(404)},
    )
    def get(self, request: Request, name: str) -> Response:
        return Response(s.JobHealthDetailSerializer(selectors.job_health(name)).data)


class HealthList(APIView):
    permission_classes = [CanView]

    @extend_schema(
        summary="Health of every job, worst first",
        parameters=[OpenApiParameter("level", str, description="only this level")],
        responses={200: s.JobHealthSerializer(many=True), **error_responses(400)},
    )
    def get(self, request: Request) -> Response:
        level = request.query_params.get("level") or None
        if level and level not in ("healthy", "warning", "critical", "unknown"):
            raise ValidationError(
                f"level: unknown value {level!r}",
                fields={"level": "healthy, warning, critical or unknown"},
            )
        return Response(s.JobHealthSerializer(selectors.health_list(level), many=True).data)


class SystemStatus(APIView):
    permission_classes = [CanView]

    @extend_schema(
        summary="System status", responses={200: s.SystemStatusSerializer, **error_responses()}
    )
    def get(self, request: Request) -> Response:
        return Response(s.SystemStatusSerializer(selectors.system_status()).data)


class JobSchedule(APIView):
    permission_classes = [CanView]

    @extend_schema(
        summary="Next fire times of a job",
        parameters=[OpenApiParameter("count", int, description="how many (1..500, default 10)")],
        responses={200: s.SchedulePreviewSerializer, **error_responses(400, 404)},
    )
    def get(self, request: Request, name: str) -> Response:
        data = selectors.schedule_preview(name, request.query_params.get("count", 10))
        return Response(s.SchedulePreviewSerializer(data).data)


class AuditList(APIView):
    permission_classes = [CanView]

    @extend_schema(
        summary="Audit trail, newest first",
        parameters=[
            OpenApiParameter("actor", str, description="user name or `system`"),
            OpenApiParameter(
                "action", str, description="e.g. job.update, or a prefix ending in '.' (job.)"
            ),
            OpenApiParameter("job", str, description="job name"),
            OpenApiParameter("source", str, description="admin, api, cli, system, code"),
            OpenApiParameter("date", OpenApiTypes.DATE, description="one UTC day"),
            OpenApiParameter("from", OpenApiTypes.DATETIME),
            OpenApiParameter("to", OpenApiTypes.DATETIME),
        ],
        responses={200: s.AuditEventSerializer(many=True), **error_responses(400)},
    )
    def get(self, request: Request) -> Response:
        q = request.query_params
        events = selectors.audit_list(
            actor=q.get("actor"),
            action=q.get("action"),
            job=q.get("job"),
            date=q.get("date"),
            start=q.get("from"),
            end=q.get("to"),
            source=q.get("source"),
        )
        paginator = PagePagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(s.AuditEventSerializer(page, many=True).data)


class RunsCleanup(APIView):
    permission_classes: list[type[BasePermission]] = [CanCleanUp]

    @extend_schema(
        summary="Delete finished runs older than N days (in small batches)",
        request=s.CleanupRequestSerializer,
        responses={200: s.CleanupResultSerializer, **error_responses(400)},
    )
    def post(self, request: Request) -> Response:
        body = s.CleanupRequestSerializer(
            data=request.data if isinstance(request.data, dict) else {}
        )
        body.is_valid(raise_exception=True)
        days = body.validated_data["older_than_days"]
        deleted = services.runs_cleanup(
            days, actor=actor_for(request), batch_size=body.validated_data.get("batch_size")
        )
        return Response({"deleted": deleted, "older_than_days": days})
