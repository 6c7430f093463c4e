"""HTTP API calls: one request (plus redirects), checked against expectations.

config: method, url, headers, auth ({type: bearer, token} | {type: basic,
username, password} | {type: header, name, value}), body (a template string,
or a JSON object/list whose strings are templates), content_type,
expect_status (list of codes or "2xx"; default 2xx), expect_json ({path,
equals}), expect_regex, max_response_bytes, verify_tls, ca_bundle, timeout,
follow_redirects.

Outcomes: expected status and checks → success; connection errors, timeouts,
5xx and 429 → transient (retry policy; Retry-After honoured, and they count
for the host's circuit breaker); any other status or a failed check →
permanent. Every address goes through jobs.execution.netguard. The request
and response are kept in run.metadata["http"] (secrets masked) and the body
in the run's output.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import urlsplit

from jobs.execution import netguard
from jobs.execution.circuit import CircuitBreaker
from jobs.execution.configcheck import ConfigCheck, fail
from jobs.execution.context import PermanentFailure, RunContext
from jobs.execution.httpcall import _PATH_TOKEN, _STATUS_CLASS, Call, HttpError, json_path
from jobs.execution.redact import Redactor
from jobs.params import render, render_all, validate_parameter_spec
from jobs.secrets import SECRET_HEADERS, _is_secret_entry, open_config, url_credentials

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
KEYS = {
    "method", "url", "headers", "auth", "body", "content_type", "expect_status", "expect_json",
    "expect_regex", "max_response_bytes", "verify_tls", "ca_bundle", "timeout", "follow_redirects",
}  # fmt: skip
__all__ = ["HttpError", "HttpKind", "handler", "json_path"]
# A response check is a short pattern; the cap also keeps re's recursive
# parser (1,000 nested groups) and its repeat counts within reach.
_MAX_REGEX_LENGTH = 500
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _check_regex(regex: str) -> None:
    if len(regex) > _MAX_REGEX_LENGTH:
        fail("config.expect_regex", f"at most {_MAX_REGEX_LENGTH} characters")
    try:
        re.compile(regex)
    except (re.error, OverflowError, RecursionError) as exc:
        fail("config.expect_regex", f"is not a valid regular expression ({exc})")


class HttpKind:
    name = "http"

    # --- save time -----------------------------------------------------------

    def validate(self, spec: dict[str, Any]) -> None:
        check = ConfigCheck(spec, KEYS)
        method = (check.string("method") or "GET").upper()
        if method not in METHODS:
            fail("config.method", f"{method!r} is not one of {', '.join(METHODS)}")
        url = check.string("url", required=True)
        try:
            parts = urlsplit(url)
            if "{" not in parts.netloc:  # a placeholder port is checked once rendered
                parts.port  # noqa: B018 -- raises on a port out of range or not a number
        except ValueError as exc:
            fail("config.url", f"is not a valid URL ({exc})")
        if parts.scheme.lower() not in ("http", "https"):
            fail(
                "config.url",
                f"scheme {parts.scheme or '(none)'!r} is not allowed: only http and https",
            )
        if not parts.netloc:
            fail("config.url", "has no host")
        if parts.hostname and "{" not in parts.netloc:
            try:
                host = netguard.parse_host(parts.hostname)
                if re.fullmatch(r"[0-9.]+|[0-9a-fA-F:]+", host):  # a literal address: judge it now
                    netguard.check_ip(host)
            except netguard.BlockedAddress as exc:
                fail("config.url", str(exc))
        for name, value in check.mapping("headers").items():
            field = f"config.headers.{name}"
            if not _HEADER_NAME.match(name):
                fail(field, "is not a valid header name")
            if isinstance(value, dict):
                if set(value) - {"value", "secret"}:
                    fail(field, "a header object has only value and secret")
                value = value.get("value")
            check.string(
                "headers", required=True, field=field, value=value if value is not None else ""
            )
            if any(c in value for c in "\r\n"):
                fail(field, "may not contain line breaks")
        self._validate_auth(check)
        body = check.get("body")
        if body is not None and not isinstance(body, str | dict | list):
            fail("config.body", "must be a string or a JSON object/list")
        check.string("content_type")
        expected = check.get("expect_status")
        if expected is not None:
            if not isinstance(expected, list) or not expected:
                fail(
                    "config.expect_status",
                    "must be a non-empty list of status codes or classes like '2xx'",
                )
            for item in expected:
                if not (
                    (isinstance(item, int) and not isinstance(item, bool) and 100 <= item <= 599)
                    or (isinstance(item, str) and _STATUS_CLASS.match(item))
                ):
                    fail(
                        "config.expect_status",
                        f"{item!r} is not a status code (100-599) or a class like '2xx'",
                    )
        expect_json = check.get("expect_json")
        if expect_json is not None:
            if not isinstance(expect_json, dict) or set(expect_json) != {"path", "equals"}:
                fail("config.expect_json", "must be an object {path, equals}")
            if not isinstance(expect_json["path"], str) or not _PATH_TOKEN.findall(
                expect_json["path"].lstrip("$")
            ):
                fail(
                    "config.expect_json.path", "must be a path like $.status or data.items[0].state"
                )
        regex = check.string("expect_regex")
        if regex is not None:
            _check_regex(regex)
        check.number("max_response_bytes", minimum=1, integer=True)
        check.number("timeout", minimum=0.1)
        check.boolean("verify_tls", True)
        check.boolean("follow_redirects", True)
        bundle = check.string("ca_bundle")
        if bundle is not None and not bundle.startswith("/"):
            fail("config.ca_bundle", "must be an absolute path to a PEM file")
        validate_parameter_spec(spec)

    def _validate_auth(self, check: ConfigCheck) -> None:
        auth = check.get("auth")
        if auth is None:
            return
        if not isinstance(auth, dict):
            fail("config.auth", "must be an object with a type: bearer, basic or header")
        needed = {
            "bearer": ("token",),
            "basic": ("username", "password"),
            "header": ("name", "value"),
        }
        kind = auth.get("type")
        if not isinstance(kind, str) or kind not in needed:
            fail("config.auth.type", f"{kind!r} is not one of bearer, basic, header")
        extra = set(auth) - {"type", *needed[kind]}
        if extra:
            fail(f"config.auth.{sorted(extra)[0]}", f"unknown key for {kind} auth")
        for key in needed[kind]:
            check.string(
                "auth", required=True, field=f"config.auth.{key}", value=auth.get(key) or ""
            )
        if kind == "header" and not _HEADER_NAME.match(auth["name"]):
            fail("config.auth.name", "is not a valid header name")

    # --- run time ------------------------------------------------------------

    def execute(self, ctx: RunContext) -> Any:
        config = open_config(ctx.job)
        params = ctx.parameters
        method = (config.get("method") or "GET").upper()
        # Render everything first: an unknown placeholder fails before any call.
        url = render(config["url"], params, mode="url", where="config.url")
        headers, secret_header_names = self._headers(config, params)
        body, content_type = self._body(config, params)
        if content_type and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = content_type
        extra_secrets = [v for k, v in headers.items() if k.lower() in secret_header_names]
        extra_secrets += url_credentials(url)  # as rendered, placeholders filled in
        auth = config.get("auth") or {}
        if auth.get("type") == "basic":
            extra_secrets.append(
                base64.b64encode(f"{auth.get('username')}:{auth.get('password')}".encode()).decode()
            )
        redactor = Redactor.for_run(ctx.job, config, params, extra_secrets)
        try:
            target = netguard.check_url(url)
        except netguard.BlockedAddress as exc:
            raise PermanentFailure(redactor.redact(str(exc))) from None
        except OSError as exc:
            raise HttpError(redactor.redact(str(exc))) from None
        breaker = CircuitBreaker(target.key)
        breaker.check()
        call = Call(ctx, config, redactor, breaker)
        return call.run(method, url, headers, body, secret_header_names)

    def _headers(
        self, config: dict[str, Any], params: dict[str, Any]
    ) -> tuple[dict[str, str], set[str]]:
        headers: dict[str, str] = {}
        secret: set[str] = set()
        for name, value in (config.get("headers") or {}).items():
            if _is_secret_entry(name, value):
                secret.add(name.lower())
            raw = value.get("value") if isinstance(value, dict) else value
            headers[name] = render(str(raw), params, mode="header", where=f"config.headers.{name}")
        auth = config.get("auth") or {}
        kind = auth.get("type")
        if kind == "bearer":
            token = render(str(auth["token"]), params, mode="header", where="config.auth.token")
            headers["Authorization"] = f"Bearer {token}"
            secret.add("authorization")
        elif kind == "basic":
            user = render(
                str(auth["username"]), params, mode="header", where="config.auth.username"
            )
            password = render(
                str(auth["password"]), params, mode="header", where="config.auth.password"
            )
            headers["Authorization"] = (
                "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            )
            secret.add("authorization")
        elif kind == "header":
            headers[auth["name"]] = render(
                str(auth["value"]), params, mode="header", where="config.auth.value"
            )
            secret.add(auth["name"].lower())
        return headers, secret | SECRET_HEADERS

    def _body(
        self, config: dict[str, Any], params: dict[str, Any]
    ) -> tuple[bytes | None, str | None]:
        body = config.get("body")
        content_type = config.get("content_type")
        if body is None or body == "":
            return None, content_type
        if isinstance(body, dict | list):
            # Structured body: values are rendered then serialised, so they
            # are always data inside JSON strings.
            rendered = render_all(body, params, where="config.body")
            return json.dumps(rendered, default=str).encode(), content_type or "application/json"
        is_json = bool(content_type) and "json" in content_type.lower()
        text = render(body, params, mode="json" if is_json else "string", where="config.body")
        return str(text).encode(), content_type


handler = HttpKind()
