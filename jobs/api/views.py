"""REST endpoints for jobs and runs (/api/v1/jobs/, /api/v1/runs/).

Thin: each view parses the request, calls one service or selector, and
renders through jobs.api.serializers. Rules live in the services; errors
are jobs.errors types mapped to {"error": {...}} by config.api.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import (
    CanManageJobs,
    CanOperate,
    CanView,
    PagePagination,
    RunCursorPagination,
    actor_for,
    error_responses,
)
from jobs.api.serializers import JobRunSerializer, JobRunSummarySerializer, JobSerializer
from jobs.errors import ValidationError
from jobs.models import RunTrigger
from jobs.services.jobs import job_create, job_delete, job_disable, job_enable, job_update
from jobs.services.runs import run_cancel, run_trigger
from monitoring import selectors, services

# --- request bodies (validated here, meaning checked by the services) ---------


class ReasonRequest(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class TriggerRequest(ReasonRequest):
    parameters = serializers.DictField(
        required=False, default=dict, help_text="merged over the job's defaults"
    )
    force = serializers.BooleanField(
        required=False, default=False, help_text="run even if the job is disabled"
    )
    timeout = serializers.CharField(
        required=False,
        allow_null=True,
        default=None,
        help_text="this run's timeout (seconds or 90s, 5m, 1h), at most the job's own",
    )


class RetryRequest(ReasonRequest):
    force = serializers.BooleanField(required=False, default=False)


JobSpecRequest = inline_serializer(
    name="JobSpec",
    fields={
        "name": serializers.SlugField(help_text="required on create"),
        "kind": serializers.ChoiceField(
            choices=["python", "process", "http", "sql"], required=False
        ),
        "target": serializers.CharField(required=False),
        "cron": serializers.CharField(required=False, allow_null=True),
        "timezone": serializers.CharField(required=False),
        "enabled": serializers.BooleanField(required=False),
        "parameters": serializers.DictField(required=False),
        "overridable_parameters": serializers.ListField(
            child=serializers.CharField(),
            required=False,
            allow_null=True,
            help_text="names operators may override at trigger; null: the plain parameters",
        ),
        "config": serializers.DictField(required=False),
        "timeout": serializers.CharField(required=False, help_text="seconds or 90s / 20m / 1h"),
        "max_retries": serializers.IntegerField(required=False),
        "overlap": serializers.ChoiceField(choices=["skip", "queue", "allow"], required=False),
        "tags": serializers.ListField(child=serializers.CharField(), required=False),
        "reason": serializers.CharField(required=False, help_text="kept in the audit record"),
    },
)


def _body(
    request: Request, serializer_class: type[serializers.Serializer] | None = None
) -> dict[str, Any]:
    data = request.data
    if data in (None, "") or (hasattr(data, "__len__") and not len(data)):
        data = {}
    if not isinstance(data, dict):
        raise ValidationError(
            "request body must be a JSON object", fields={"body": "expected an object"}
        )
    if serializer_class is None:
        return dict(data)
    ser = serializer_class(data=data)
    ser.is_valid(raise_exception=True)
    return dict(ser.validated_data)


_TRIGGER_BY_SOURCE = {"api": RunTrigger.API}

JOB_FILTERS = [
    OpenApiParameter("enabled", OpenApiTypes.BOOL, description="true / false"),
    OpenApiParameter(
        "status", str, description="job status, comma-separated (e.g. failed,timed_out)"
    ),
    OpenApiParameter(
        "health", str, description="healthy, warning, critical, unknown (comma-separated)"
    ),
    OpenApiParameter("kind", str, description="python, process, http, sql (comma-separated)"),
    OpenApiParameter("tag", str, description="jobs carrying this tag"),
    OpenApiParameter("search", str, description="substring of name, display name or description"),
]
RUN_FILTERS = [
    OpenApiParameter("status", str, description="run status, comma-separated"),
    OpenApiParameter(
        "trigger", str, description="scheduled, manual, api, cli, retry, forced, chained, code"
    ),
    OpenApiParameter(
        "from", OpenApiTypes.DATETIME, description="queued at or after (ISO date or date-time)"
    ),
    OpenApiParameter(
        "to", OpenApiTypes.DATETIME, description="queued before (a date means the end of that day)"
    ),
]


# --- jobs -------------------------------------------------------------------------


class JobList(APIView):
    permission_classes = [CanManageJobs]

    @extend_schema(
        summary="List jobs",
        parameters=JOB_FILTERS,
        responses={200: JobSerializer(many=True), **error_responses(400)},
    )
    def get(self, request: Request) -> Response:
        q = request.query_params
        jobs = selectors.job_list(
            enabled=q.get("enabled"),
            status=q.get("status"),
            health=q.get("health"),
            kind=q.get("kind"),
            tag=q.get("tag"),
            search=q.get("search"),
        )
        paginator = PagePagination()
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response(JobSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a job (database-defined; process/SQL kinds need their permission)",
        request=JobSpecRequest,
        responses={201: JobSerializer, **error_responses(400)},
    )
    def post(self, request: Request) -> Response:
        spec = _body(request)
        reason = str(spec.pop("reason", "") or "")
        job = job_create(spec, actor=actor_for(request), reason=reason)
        return Response(
            JobSerializer(selectors.job_get(job.name)).data, status=status.HTTP_201_CREATED
        )


class JobDetail(APIView):
    permission_classes = [CanManageJobs]

    def _job(self, request: Request, name: str):
        job = selectors.job_get(name)
        self.check_object_permissions(request, job)
        return job

    @extend_schema(summary="One job", responses={200: JobSerializer, **error_responses(404)})
    def get(self, request: Request, name: str) -> Response:
        return Response(JobSerializer(self._job(request, name)).data)

    @extend_schema(
        summary="Change some fields of a job",
        request=JobSpecRequest,
        responses={200: JobSerializer, **error_responses(400, 404)},
    )
    def patch(self, request: Request, name: str) -> Response:
        self._job(request, name)
        changes = _body(request)
        reason = str(changes.pop("reason", "") or "")
        job = job_update(name, changes, actor=actor_for(request), reason=reason)
        return Response(JobSerializer(selectors.job_get(job.name)).data)

    @extend_schema(
        summary="Delete a job and its history",
        parameters=[OpenApiParameter("reason", str, description="kept in the audit record")],
        responses={204: OpenApiResponse(description="deleted"), **error_responses(404)},
    )
    def delete(self, request: Request, name: str) -> Response:
        self._job(request, name)
        job_delete(name, actor=actor_for(request), reason=request.query_params.get("reason", ""))
        return Response(status=status.HTTP_204_NO_CONTENT)


class _JobAction(APIView):
    permission_classes = [CanOperate]

    def _authorize(self, request: Request, name: str) -> None:
        self.check_object_permissions(request, selectors.job_get(name))


class JobEnable(_JobAction):
    @extend_schema(
        summary="Enable a job",
        request=ReasonRequest,
        responses={200: JobSerializer, **error_responses(400, 404)},
    )
    def post(self, request: Request, name: str) -> Response:
        self._authorize(request, name)
        body = _body(request, ReasonRequest)
        job_enable(name, actor=actor_for(request), reason=body["reason"])
        return Response(JobSerializer(selectors.job_get(name)).data)


class JobDisable(_JobAction):
    @extend_schema(
        summary="Disable a job (with a reason)",
        request=ReasonRequest,
        responses={200: JobSerializer, **error_responses(400, 404)},
    )
    def post(self, request: Request, name: str) -> Response:
        self._authorize(request, name)
        body = _body(request, ReasonRequest)
        job_disable(name, actor=actor_for(request), reason=body["reason"])
        return Response(JobSerializer(selectors.job_get(name)).data)


class JobTrigger(_JobAction):
    @extend_schema(
        summary="Run a job now",
        description="Queues a run and returns it (202). A disabled job is refused (409) unless "
        "`force`; an unreachable broker is 503, with nothing saved.",
        request=TriggerRequest,
        responses={202: JobRunSerializer, **error_responses(400, 404, 409, 503)},
    )
    def post(self, request: Request, name: str) -> Response:
        self._authorize(request, name)
        body = _body(request, TriggerRequest)
        run = run_trigger(
            name,
            actor=actor_for(request),
            trigger=RunTrigger.API,
            parameters=body["parameters"],
            reason=body["reason"],
            force=body["force"],
            timeout=body["timeout"],
        )
        return Response(JobRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class JobRetry(_JobAction):
    @extend_schema(
        summary="Re-run the latest failed run's parameters",
        request=RetryRequest,
        responses={202: JobRunSerializer, **error_responses(400, 404, 409, 503)},
    )
    def post(self, request: Request, name: str) -> Response:
        self._authorize(request, name)
        body = _body(request, RetryRequest)
        run = services.run_retry_last_failed(
            name,
            actor=actor_for(request),
            trigger=RunTrigger.API,
            reason=body["reason"],
            force=body["force"],
        )
        return Response(JobRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


HealthSerializer = inline_serializer(
    name="JobHealthReset",
    fields={
        "job": serializers.CharField(),
        "level": serializers.CharField(),
        "issues": serializers.ListField(child=serializers.DictField()),
    },
)


class JobResetHealth(_JobAction):
    @extend_schema(
        summary="Reset a job's health",
        description="Clears consecutive failures and the last error; the window rules count only later runs.",
        request=ReasonRequest,
        responses={200: HealthSerializer, **error_responses(400, 404)},
    )
    def post(self, request: Request, name: str) -> Response:
        self._authorize(request, name)
        body = _body(request, ReasonRequest)
        health = services.health_reset(name, actor=actor_for(request), reason=body["reason"])
        return Response({"job": name, "level": health.level, "issues": health.issues})


# --- runs -------------------------------------------------------------------------


class JobRuns(APIView):
    permission_classes = [CanView]

    @extend_schema(
        summary="A job's runs, newest first (cursor-paginated)",
        parameters=RUN_FILTERS,
        responses={200: JobRunSummarySerializer(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, name: str) -> Response:
        return _run_page(self, request, job=name)


class RunList(APIView):
    permission_classes = [CanView]

    @extend_schema(
        summary="Runs of all jobs, newest first (cursor-paginated)",
        parameters=[*RUN_FILTERS, OpenApiParameter("job", str, description="job name")],
        responses={200: JobRunSummarySerializer(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request) -> Response:
        return _run_page(self, request, job=request.query_params.get("job") or None)


def _run_page(view: APIView, request: Request, job: str | None) -> Response:
    q = request.query_params
    runs = selectors.run_list(
        job=job,
        status=q.get("status"),
        trigger=q.get("trigger"),
        start=q.get("from"),
        end=q.get("to"),
    )
    paginator = RunCursorPagination()
    page = paginator.paginate_queryset(runs, request, view=view)
    return paginator.get_paginated_response(JobRunSummarySerializer(page, many=True).data)


class RunDetail(APIView):
    permission_classes = [CanView]

    @extend_schema(
        summary="Everything about one run",
        responses={200: JobRunSerializer, **error_responses(404)},
    )
    def get(self, request: Request, run_id: str) -> Response:
        return Response(JobRunSerializer(selectors.run_get(run_id)).data)


class RunCancel(APIView):
    permission_classes = [CanOperate]

    @extend_schema(
        summary="Cancel a queued or running run",
        request=ReasonRequest,
        responses={200: JobRunSerializer, **error_responses(400, 404, 409)},
    )
    def post(self, request: Request, run_id: str) -> Response:
        self.check_object_permissions(request, selectors.run_get(run_id))
        body = _body(request, ReasonRequest)
        run = run_cancel(str(run_id), actor=actor_for(request), reason=body["reason"])
        return Response(JobRunSerializer(run).data)
