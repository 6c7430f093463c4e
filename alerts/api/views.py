"""/api/v1/alerts/ and /api/v1/channels/: thin views that parse input, call
one selector or service, and render through alerts.api.serializers.
Domain errors (jobs.errors) are mapped by the project's exception handler."""

from __future__ import annotations

from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts import selectors, services
from alerts.api.permissions import require_alert_write, require_perm
from alerts.api.serializers import (
    AlertDetailSerializer,
    AlertSerializer,
    ChannelSerializer,
    ChannelWrite,
    DeliverySerializer,
    ResolveRequest,
    StatsSerializer,
)
from config.api import actor_for
from jobs.errors import ValidationError


def _body(request: Request) -> dict:
    if not isinstance(request.data, dict):
        raise ValidationError("request body must be a JSON object")
    return dict(request.data)


def parse_when(value: str | None, name: str):
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is not None:
            from datetime import datetime, time

            from django.utils import timezone

            parsed = datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
    if parsed is None:
        raise ValidationError(
            f"{name}: {value!r} is not an ISO 8601 date or time", fields={name: "invalid"}
        )
    if parsed.tzinfo is None:
        from django.utils import timezone

        parsed = timezone.make_aware(parsed)
    return parsed


ALERT_FILTERS = [
    OpenApiParameter("status", str, enum=["open", "acknowledged", "resolved", "active"]),
    OpenApiParameter("min_severity", str, enum=["low", "medium", "high", "critical"]),
    OpenApiParameter("type", str),
    OpenApiParameter("job", str, description="job name"),
    OpenApiParameter("area", str),
    OpenApiParameter("run", str, description="run id: alerts raised for that run"),
]


class AlertList(generics.ListAPIView):
    serializer_class = AlertSerializer

    @extend_schema(parameters=ALERT_FILTERS)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        q = self.request.query_params
        return selectors.alert_list(
            status=q.get("status"),
            min_severity=q.get("min_severity") or q.get("severity"),
            type=q.get("type"),
            job=q.get("job"),
            area=q.get("area"),
            run=q.get("run"),
        )


class AlertDetail(APIView):
    @extend_schema(responses=AlertDetailSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(AlertDetailSerializer(selectors.alert_get(pk)).data)


class AlertAcknowledge(APIView):
    @extend_schema(request=None, responses=AlertSerializer)
    def post(self, request: Request, pk: int) -> Response:
        require_alert_write(request.user, selectors.alert_get(pk), "acknowledge alerts")
        alert = services.alert_acknowledge(pk, actor=actor_for(request))
        return Response(AlertSerializer(alert).data)


class AlertResolve(APIView):
    @extend_schema(request=ResolveRequest, responses=AlertSerializer)
    def post(self, request: Request, pk: int) -> Response:
        require_alert_write(request.user, selectors.alert_get(pk), "resolve alerts")
        notes = _body(request).get("notes") or ""
        if not isinstance(notes, str):
            raise ValidationError("notes must be text", fields={"notes": "not a string"})
        alert = services.alert_resolve(pk, actor=actor_for(request), notes=notes)
        return Response(AlertSerializer(alert).data)


class AlertStats(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("from", str), OpenApiParameter("to", str)],
        responses=StatsSerializer,
    )
    def get(self, request: Request) -> Response:
        stats = selectors.alert_stats(
            parse_when(request.query_params.get("from"), "from"),
            parse_when(request.query_params.get("to"), "to"),
        )
        stats["from"], stats["to"] = stats["from"].isoformat(), stats["to"].isoformat()
        return Response(stats)


class ChannelList(generics.ListAPIView):
    serializer_class = ChannelSerializer

    def get_queryset(self):
        return selectors.channel_list()

    @extend_schema(request=ChannelWrite, responses={201: ChannelSerializer})
    def post(self, request: Request) -> Response:
        require_perm(request.user, "alerts.manage_channels", "manage channels")
        channel = services.channel_create(_body(request), actor=actor_for(request))
        return Response(ChannelSerializer(channel).data, status=201)


class ChannelDetail(APIView):
    @extend_schema(responses=ChannelSerializer)
    def get(self, request: Request, pk: int) -> Response:
        from alerts.services.channels import channel_get

        return Response(ChannelSerializer(channel_get(pk)).data)

    @extend_schema(request=ChannelWrite, responses=ChannelSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        require_perm(request.user, "alerts.manage_channels", "manage channels")
        channel = services.channel_update(pk, _body(request), actor=actor_for(request))
        return Response(ChannelSerializer(channel).data)


class ChannelTest(APIView):
    @extend_schema(request=None, responses=DeliverySerializer)
    def post(self, request: Request, pk: int) -> Response:
        require_perm(request.user, "alerts.manage_channels", "test channels")
        delivery = services.channel_test(pk, actor=actor_for(request))
        return Response(DeliverySerializer(delivery).data)
