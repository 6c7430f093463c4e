"""How an API caller is identified and rate-limited.

Tokens are django-rest-knox tokens: the database keeps a SHA-512 digest and
an expiry, never the key (monitoring.tokens creates them). Throttling counts
requests per client address (anonymous) or per user in the shared cache
(Redis), so every web process sees the same count.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework import exceptions, throttling
from rest_framework.authentication import get_authorization_header
from rest_framework.settings import api_settings

from config.api import client_ip

_TOKEN_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


class TokenAuthentication(KnoxTokenAuthentication):
    """`Authorization: Token <key>`. A key that cannot be one of ours (bytes
    outside [A-Za-z0-9_-], absurd length) is refused as an invalid token
    before it reaches a query: a 401, never a 400 or 500 from the database."""

    def authenticate(self, request: Any) -> Any:
        parts = get_authorization_header(request).split()
        if len(parts) == 2 and parts[0].lower() == b"token":
            key = parts[1]
            if len(key) > 200 or not set(key) <= _TOKEN_CHARS:
                raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate(request)


class TokenScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme of TokenAuthentication (same name as before)."""

    target_class = "config.auth.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> Any:
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix="Token"
        )


class _RateFromSettings:
    """DRF reads THROTTLE_RATES once, when the class is defined; reading it per
    request lets a deployment's (or a test's) settings take effect."""

    scope: str

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_ident(self, request: Any) -> str:
        # DRF's own get_ident trusts any X-Forwarded-For when NUM_PROXIES is
        # unset: a client could send a new address with each request.
        return client_ip(request) or "unknown"


class AnonRateThrottle(_RateFromSettings, throttling.AnonRateThrottle):
    """Anonymous requests, per client address (API_THROTTLE_ANON)."""


class UserRateThrottle(_RateFromSettings, throttling.UserRateThrottle):
    """Authenticated requests, per user (API_THROTTLE_USER)."""
