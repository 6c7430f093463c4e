"""Site-wide views that belong to no app: the 404 page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

API_PREFIX = "/api/"


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: an unknown route under /api/ answers in the API's error
    shape, like every other API error; anything else gets Django's page.
    (DRF views map their own 404s; this is for URLs no route matched.)"""
    if request.path.startswith(API_PREFIX):
        from config.api import error_body

        body: dict[str, Any] = error_body(
            "not_found", f"no API endpoint at {request.path} (see /api/v1/docs/)"
        )
        return JsonResponse(body, status=404)
    return defaults.page_not_found(request, exception or Exception("not found"))
