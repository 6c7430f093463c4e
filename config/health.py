"""GET /healthz for container probes: 200 when the database answers, 503 when not.

A middleware placed first rather than a URL: a probe calls 127.0.0.1 inside the
container, whatever public names DJANGO_ALLOWED_HOSTS lists, so it must answer
before Django validates the Host header (and before an HTTPS redirect)."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

PATH = "/healthz"


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return False
    return True


class HealthzMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path != PATH or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        if database_ok():
            return JsonResponse({"status": "ok"})
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
