"""/api/v1/compliance/: rules, triggering a check, past checks."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts.api.permissions import require_perm
from alerts.api.views import _body
from compliance import selectors, services
from compliance.api.serializers import (
    ComplianceRunRequest,
    ComplianceRunSerializer,
    RuleSerializer,
    RuleWrite,
)
from config.api import actor_for


class RuleList(generics.ListAPIView):
    serializer_class = RuleSerializer

    @extend_schema(parameters=[OpenApiParameter("area", str), OpenApiParameter("enabled", bool)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        q = self.request.query_params
        return selectors.rule_list(area=q.get("area"), enabled=q.get("enabled"))

    @extend_schema(request=RuleWrite, responses={201: RuleSerializer})
    def post(self, request: Request) -> Response:
        require_perm(request.user, "compliance.manage_rules", "manage compliance rules")
        rule = services.rule_create(_body(request), actor=actor_for(request))
        return Response(RuleSerializer(rule).data, status=201)


class RuleDetail(APIView):
    @extend_schema(responses=RuleSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(RuleSerializer(services.rule_get(pk)).data)

    @extend_schema(request=RuleWrite, responses=RuleSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        require_perm(request.user, "compliance.manage_rules", "manage compliance rules")
        rule = services.rule_update(pk, _body(request), actor=actor_for(request))
        return Response(RuleSerializer(rule).data)


class ComplianceRun(APIView):
    @extend_schema(request=ComplianceRunRequest, responses={202: ComplianceRunSerializer})
    def post(self, request: Request) -> Response:
        require_perm(request.user, "jobs.trigger_job", "run compliance checks")
        body = _body(request)
        run = services.compliance_run(
            actor=actor_for(request),
            trigger="api",
            rules=body.get("rules"),
            area=body.get("area"),
            reason=body.get("reason") or "",
            force=bool(body.get("force")),
        )
        return Response(ComplianceRunSerializer(run).data, status=202)


class ComplianceRunList(generics.ListAPIView):
    serializer_class = ComplianceRunSerializer

    def get_queryset(self):
        return selectors.compliance_runs()
