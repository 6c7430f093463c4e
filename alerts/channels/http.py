"""One HTTP POST for the chat and webhook channels, behind the SSRF guard
(jobs.execution.netguard: internal addresses refused unless inside
JOBS_HTTP_ALLOWED_NETWORKS, checked on the URL and on the connected socket)."""

from __future__ import annotations

import json
from typing import Any

import requests
from django.conf import settings

from alerts.channels import DeliveryError
from jobs.errors import ValidationError
from jobs.execution import httplimits, netguard


def check_url(url: Any, field: str = "url") -> None:
    """ValidationError naming `field` for a non-http(s) URL or one the SSRF
    guard refuses."""
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ValidationError(
            f"{field} must be an http(s) URL", fields={field: "must be an http(s) URL"}
        )
    try:
        netguard.check_url(url)
    except (netguard.BlockedAddress, OSError) as exc:
        raise ValidationError(f"{field}: {exc}", fields={field: str(exc)}) from None


def validate_secret_url(
    config: dict[str, Any], secrets: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`validate` for a chat webhook (Slack, Teams) whose one setting is its
    URL, kept as a secret: the URL alone lets anyone post to the channel."""
    url = secrets.get("url")
    check_url(url, "url")
    return {}, {"url": url}


def post_json(url: str, body: dict[str, Any] | bytes, headers: dict[str, str] | None = None) -> int:
    """POST and return the status; DeliveryError on a refused address or
    connection, a timeout, or any non-2xx answer.

    ALERTS_HTTP_TIMEOUT bounds the whole exchange (connect, send, answer), not
    each socket read; of the answer at most ALERTS_HTTP_MAX_RESPONSE_BYTES are
    read (only a preview is ever shown). Redirects are not followed at all: the
    URL is the receiver's exact endpoint, the body can carry secrets, and a
    307/308 elsewhere would re-send it there; a 3xx is reported as a failure.
    Proxies from the environment are not used (they could bypass the guard)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    timeout = float(settings.ALERTS_HTTP_TIMEOUT)
    with httplimits.Deadline(timeout) as deadline:
        try:
            netguard.check_url(url)
            with requests.Session() as session:
                session.trust_env = False
                adapter = netguard.GuardedAdapter(max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                response = session.post(
                    url,
                    data=data,
                    headers={"Content-Type": "application/json", **(headers or {})},
                    timeout=(deadline.remaining() or 0.001, deadline.remaining() or 0.001),
                    allow_redirects=False,
                    stream=True,
                )
                answer = httplimits.read_capped(
                    response, settings.ALERTS_HTTP_MAX_RESPONSE_BYTES, deadline, truncate=True
                )
        except netguard.BlockedAddress as exc:
            raise DeliveryError(f"refused by the SSRF guard: {exc}") from None
        except (requests.RequestException, OSError, httplimits.DeadlineExceeded) as exc:
            if deadline.expired or isinstance(exc, httplimits.DeadlineExceeded):
                raise DeliveryError(f"timed out: no complete answer within {timeout:g}s") from None
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
    if not 200 <= response.status_code < 300:
        preview = answer[:200].decode(response.encoding or "utf-8", "replace")
        raise DeliveryError(f"HTTP {response.status_code}: {preview}", status=response.status_code)
    return response.status_code
