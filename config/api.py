"""REST API plumbing shared by every app's views: the error shape, the role
permissions, pagination, and who is asking (Actor with client address).

Errors: every failure leaves as {"error": {"code", "message", "fields"}}
with its status — our JobwardenError types and DRF's own exceptions alike,
so a client handles one shape.

Roles are Django groups created by monitoring's migration:
  viewer   — read everything          (jobs.view_job)
  operator — + trigger, cancel, enable/disable, reset health, retry
             (jobs.trigger_job; the alerts app adds acknowledge/resolve)
  admin    — + create, edit, delete jobs (jobs.add_job / change_job / delete_job)
Process and SQL jobs, parameter queries, config.connections and python
targets not registered in code also need jobs.manage_execution_jobs
(checked by the job services whatever the door). A job's owner may operate
their own job without the operator role, and edit what does not decide what
runs (description, schedule, monitoring, notifications; the job services
enforce which fields) without the admin role; never delete it.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import DataError
from django.http import Http404
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from jobs.actors import Actor
from jobs.errors import JobwardenError
from jobs.limits import check_instant
from jobs.schedule import ScheduleError

log = logging.getLogger(__name__)

VIEW_PERM = "jobs.view_job"
OPERATE_PERM = "jobs.trigger_job"


# --- errors -----------------------------------------------------------------------


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _first_message(detail: Any, prefix: str = "") -> str:
    """The first leaf message of a DRF error detail, prefixed with its field."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            return _first_message(
                value, f"{prefix}.{name}" if prefix and name else (name or prefix)
            )
        return "invalid input"
    if isinstance(detail, list):
        return _first_message(detail[0], prefix) if detail else "invalid input"
    text = str(detail)
    return f"{prefix}: {text}" if prefix else text


def _plain(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {str(k): _plain(v) for k, v in detail.items()}
    if isinstance(detail, list):
        items = [_plain(v) for v in detail]
        return items[0] if len(items) == 1 and isinstance(items[0], str) else items
    return str(detail)


_DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "parse_error",
    exceptions.ValidationError: "invalid",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: map every known error to the one shape."""
    if isinstance(exc, JobwardenError):
        return Response({"error": exc.as_dict()}, status=exc.http_status)
    if isinstance(exc, ScheduleError):  # a schedule helper's message, reached unwrapped
        return Response(error_body("invalid", str(exc), {"cron": str(exc)}), status=400)
    if isinstance(exc, DataError):
        # Input the database cannot hold (a NUL character, a number out of
        # range) reached a query: the client's mistake, not a server error.
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid value"
        logging.getLogger(__name__).warning("rejected input: %s", first_line)
        return Response(
            error_body("invalid", f"input the database cannot store: {first_line}"), status=400
        )
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            error_body("too_large", f"request body over {limit} bytes"),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "not found")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: Django's 500 handling (and logging) applies
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), None)
    code = code or (exc.get_codes() if isinstance(exc.get_codes(), str) else "error")
    if isinstance(exc, exceptions.ValidationError):
        fields = _plain(exc.detail) if isinstance(exc.detail, dict) else {}
        message = _first_message(exc.detail)
    else:
        fields, message = {}, str(exc.detail)
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
    return Response(
        error_body(code, message, fields if isinstance(fields, dict) else {}),
        status=exc.status_code,
        headers=headers,
    )


ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorDetail",
            fields={
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "fields": serializers.DictField(),
            },
        )
    },
)

_ERROR_TEXT = {
    400: "Invalid input; `message` says what is wrong, `fields` names the fields.",
    401: "Not authenticated (session or `Authorization: Token <key>`).",
    403: "Authenticated, but the role does not allow this.",
    404: "Unknown job or run.",
    409: "Conflict with the current state (e.g. job disabled, run already finished).",
    429: "Too many requests (API_THROTTLE_USER / API_THROTTLE_ANON); `Retry-After` says when.",
    503: "The broker cannot be reached; nothing was saved.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for the error statuses an endpoint can return."""
    return {
        s: OpenApiResponse(ErrorSerializer, description=_ERROR_TEXT[s])
        for s in (401, 403, 429, *statuses)
    }


# --- who is asking ----------------------------------------------------------------


def client_ip(request: Any) -> str | None:
    """The caller's address. X-Forwarded-For is read only when the direct peer
    is one of TRUSTED_PROXIES (else anyone could forge it), and from the right:
    each proxy appends the address it received from, so the nearest address
    that is not itself a trusted proxy is the client; the entries left of it
    are whatever the client chose to send."""
    remote = request.META.get("REMOTE_ADDR") or None
    trusted = _networks(tuple(getattr(settings, "TRUSTED_PROXIES", ())))
    if not (remote and trusted and _in(remote, trusted)):
        return remote
    client = remote
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        try:
            client = str(ipaddress.ip_address(hop.strip()))
        except ValueError:
            return client  # garbage: stop at the last address a proxy vouched for
        if not _in(client, trusted):
            return client
    return client


@functools.lru_cache(maxsize=8)
def _networks(values: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def _in(address: str, networks: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def actor_for(request: Any) -> Actor:
    return Actor.for_user(request.user, "api", client_ip(request))


# --- permissions ------------------------------------------------------------------


def _is_owner(request: Any, obj: Any) -> bool:
    job = getattr(obj, "job", obj)
    return bool(getattr(job, "owner_id", None)) and job.owner_id == getattr(
        request.user, "pk", None
    )


class CanView(BasePermission):
    """Viewer role or above (reads). Anonymous: 401 via the token challenge."""

    message = "your role does not allow reading jobs (needs the viewer role)"

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(VIEW_PERM))


class CanOperate(CanView):
    """Operator role (trigger, cancel, enable/disable, reset health), or the
    owner of the job concerned."""

    message = "your role does not allow operating jobs (needs the operator role, or owning the job)"

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        # Owners are checked per object; without a role they still need to read.
        return user.has_perm(OPERATE_PERM) or user.has_perm(VIEW_PERM)

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        return request.user.has_perm(OPERATE_PERM) or _is_owner(request, obj)


class CanManageJobs(CanView):
    """Reads for viewers; POST needs jobs.add_job, PATCH jobs.change_job (or
    owning the job), DELETE jobs.delete_job."""

    message = "your role does not allow changing job definitions (needs the admin role)"
    _perms = {
        "POST": "jobs.add_job",
        "PUT": "jobs.change_job",
        "PATCH": "jobs.change_job",
        "DELETE": "jobs.delete_job",
    }

    def has_permission(self, request: Any, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        if request.method == "POST":
            return request.user.has_perm(self._perms["POST"])
        return True

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        perm = self._perms.get(request.method)
        if perm is None:
            return True
        if request.user.has_perm(perm):
            return True
        return request.method in ("PUT", "PATCH") and _is_owner(request, obj)


# --- pagination -------------------------------------------------------------------


class PagePagination(PageNumberPagination):
    """?page=N&page_size=M (max 1000: the whole job list of a large install in one call)."""

    page_size_query_param = "page_size"
    max_page_size = 1000


class RunCursorPagination(CursorPagination):
    """Runs are an append-mostly table of millions of rows: a cursor page costs
    one index range scan and no COUNT(*), and stays stable while runs arrive."""

    ordering = ("-queued_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request: Any) -> Any:
        """DRF's decoding, plus the position must be an instant in range: a
        forged cursor (`p=%00`) would otherwise reach the query as a bad date."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                position = parse_datetime(cursor.position)
                if position is None:
                    raise ValueError(cursor.position)
                check_instant(position)
            except ValueError:
                raise exceptions.NotFound(self.invalid_cursor_message) from None
        return cursor


# --- parsing ----------------------------------------------------------------------


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, with a 400 for nesting beyond Python's recursion
    limit (a RecursionError, i.e. a 500, otherwise). The body's size is bounded
    before parsing, by DATA_UPLOAD_MAX_MEMORY_SIZE (a 413, see exception_handler)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from None


__all__ = [
    "CanManageJobs",
    "CanOperate",
    "CanView",
    "ErrorSerializer",
    "PagePagination",
    "RunCursorPagination",
    "actor_for",
    "client_ip",
    "error_body",
    "error_responses",
    "exception_handler",
    "status",
]
