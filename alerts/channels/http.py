"""One HTTP POST for the chat and webhook channels, behind the SSRF guard."""

from __future__ import annotations

import json
from typing import Any

import requests
from django.conf import settings

from alerts.channels import DeliveryError
from jobs.errors import ValidationError


def check_url(url: str, field: str = "url") -> None:
    """Refuse URLs the SSRF guard forbids (internal networks unless allowed
    by JOBS_HTTP_ALLOWED_NETWORKS) and anything but http(s)."""
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ValidationError(
            f"{field} must be an http(s) URL", fields={field: "must be an http(s) URL"}
        )
    guard = _netguard()
    if guard is not None:
        try:
            guard(url)
        except Exception as exc:  # the guard's own error type; message says why
            raise ValidationError(f"{field}: {exc}", fields={field: str(exc)}) from None


def _netguard():
    try:
        from jobs.execution import netguard
    except ImportError:
        return None
    for name in ("check_url", "validate_url", "guard_url"):
        fn = getattr(netguard, name, None)
        if callable(fn):
            return fn
    return None


def post_json(url: str, body: dict[str, Any] | bytes, headers: dict[str, str] | None = None) -> int:
    """POST and return the status; DeliveryError on a refused connection,
    timeout, or any non-2xx answer. Redirects are not followed (a redirect
    could point past the SSRF guard)."""
    try:
        check_url(url)
    except ValidationError as exc:
        raise DeliveryError(exc.message) from None
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    try:
        response = requests.post(
            url,
            data=data,
            headers={"Content-Type": "application/json", **(headers or {})},
            timeout=settings.ALERTS_HTTP_TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(
            f"HTTP {response.status_code}: {response.text[:200]}", status=response.status_code
        )
    return response.status_code
