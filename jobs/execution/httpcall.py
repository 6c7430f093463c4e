"""One HTTP job attempt on the wire: manual redirects through the SSRF guard,
a bounded streamed body, and the verdict (expected status, JSON path, regex;
transient vs permanent; circuit-breaker bookkeeping). The kind module
(jobs.execution.kinds.http) validates and renders the config first."""

from __future__ import annotations

import json
import re
import time
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from jobs.execution import httplimits, netguard
from jobs.execution.circuit import CircuitBreaker
from jobs.execution.configcheck import MASK
from jobs.execution.context import PermanentFailure, RetryAfter, RunCancelled, RunContext
from jobs.execution.redact import Redactor

_STATUS_CLASS = re.compile(r"^[1-5]xx$")
_PATH_TOKEN = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")
METADATA_BODY_BYTES = 4096  # request/response previews in metadata; the body itself goes to output
TIMED_OUT = "HTTP call exceeded the job's timeout"


class HttpError(Exception):
    """A transient HTTP failure (connection, timeout, 5xx, 429)."""


def _status_ok(status: int, expected: list[Any] | None) -> bool:
    if not expected:
        return 200 <= status < 300
    for item in expected:
        if isinstance(item, int) and item == status:
            return True
        if isinstance(item, str) and _STATUS_CLASS.match(item) and str(status)[0] == item[0]:
            return True
    return False


def json_path(document: Any, path: str) -> Any:
    """Follow `$.a.b[0].c` (or `a.b.0.c`); KeyError if absent."""
    node = document
    text = path[1:] if path.startswith("$") else path
    for name, index in _PATH_TOKEN.findall(text):
        key: Any = int(index) if index else name
        if isinstance(node, list):
            try:
                node = node[int(key)]
            except (ValueError, IndexError):
                raise KeyError(path) from None
        elif isinstance(node, dict) and key in node:
            node = node[key]
        else:
            raise KeyError(path)
    return node


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(seconds, float(settings.JOBS_HTTP_MAX_RETRY_AFTER)))


class Call:
    """One request with manual, guarded redirects and a bounded, streamed body."""

    def __init__(
        self, ctx: RunContext, config: dict[str, Any], redactor: Redactor, breaker: CircuitBreaker
    ):
        self.ctx = ctx
        self.config = config
        self.redactor = redactor
        self.breaker = breaker
        self.max_bytes = int(
            config.get("max_response_bytes") or settings.JOBS_HTTP_MAX_RESPONSE_BYTES
        )
        cap = config.get("timeout")
        # Leave a margin before the soft time limit so this attempt fails as
        # a timeout of its own, with the request recorded.
        remaining = ctx.time_remaining - min(1.0, ctx.timeout * 0.05)
        self.deadline = time.monotonic() + max(
            0.1, min(float(cap), remaining) if cap else remaining
        )
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies or .netrc from the worker's environment
        adapter = netguard.GuardedAdapter(max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        bundle = config.get("ca_bundle")
        self.verify: bool | str = (
            bundle
            if bundle and config.get("verify_tls", True)
            else bool(config.get("verify_tls", True))
        )
        self.metadata: dict[str, Any] = {"redirects": []}
        ctx.metadata["http"] = self.metadata

    def _remaining(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise SoftTimeLimitExceeded(TIMED_OUT)
        return remaining

    def _mask_headers(self, headers: Any, secret_names: set[str]) -> dict[str, str]:
        masked = {}
        for name, value in headers.items():
            low = name.lower()
            masked[name] = (
                MASK
                if low in secret_names or low == "set-cookie"
                else self.redactor.redact(str(value))
            )
        return masked

    def _preview(self, data: bytes | None) -> str | None:
        if data is None:
            return None
        text = data[:METADATA_BODY_BYTES].decode("utf-8", "replace")
        return self.redactor.redact(text) + ("…" if len(data) > METADATA_BODY_BYTES else "")

    def run(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        secret_names: set[str],
    ) -> Any:
        started = time.monotonic()
        # requests' timeout bounds each socket read; the deadline bounds the
        # whole exchange, so a server dripping its answer cannot stretch it.
        with httplimits.Deadline(self.deadline - started) as self._deadline:
            try:
                response, data, method, url = self._exchange(
                    method, url, headers, body, secret_names
                )
            except httplimits.DeadlineExceeded:
                raise SoftTimeLimitExceeded(TIMED_OUT) from None
        elapsed_ms = int((time.monotonic() - started) * 1000)
        return self._judge(method, url, response, data, elapsed_ms)

    def _exchange(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        secret_names: set[str],
    ) -> tuple[requests.Response, bytes, str, str]:
        origin = urlsplit(url)
        try:
            for hop in range(settings.JOBS_HTTP_MAX_REDIRECTS + 1):
                self.metadata["request"] = {
                    "method": method,
                    "url": self.redactor.redact(url),
                    "headers": self._mask_headers(headers, secret_names),
                    "body": self._preview(body),
                }
                if self.ctx.is_cancelled():
                    raise RunCancelled("cancelled before the request was sent")
                remaining = self._remaining()
                response = self.session.request(
                    method, url, headers=headers, data=body, stream=True, allow_redirects=False,
                    timeout=(min(remaining, 30.0), remaining), verify=self.verify,
                )  # fmt: skip
                if not (response.is_redirect and self.config.get("follow_redirects", True)):
                    break
                location = urljoin(url, response.headers.get("Location", ""))
                self.metadata["redirects"].append(
                    {"status": response.status_code, "location": self.redactor.redact(location)}
                )
                response.close()
                if hop == settings.JOBS_HTTP_MAX_REDIRECTS:
                    raise PermanentFailure(
                        f"more than {settings.JOBS_HTTP_MAX_REDIRECTS} redirects"
                    )
                netguard.check_url(location)  # every hop passes the guard
                new = urlsplit(location)
                cross_origin = (new.scheme, new.hostname, new.port) != (
                    origin.scheme,
                    origin.hostname,
                    origin.port,
                )
                if cross_origin:
                    # Credentials are for the host they were configured for.
                    headers = {k: v for k, v in headers.items() if k.lower() not in secret_names}
                if response.status_code == 303 or (
                    response.status_code in (301, 302) and method == "POST"
                ):
                    method, body = "GET", None
                    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
                if cross_origin and body is not None:
                    # A 307/308 re-sends the body, which may carry rendered
                    # secrets, to a host nobody configured: refuse, clearly.
                    raise PermanentFailure(
                        f"refused to follow a {response.status_code} redirect to another origin "
                        f"({self.redactor.redact(location)}): it would re-send the request body"
                    )
                url = location
            data = self._read(response, self._deadline)
        except netguard.BlockedAddress as exc:
            raise PermanentFailure(self.redactor.redact(str(exc))) from None
        except requests.exceptions.SSLError as exc:
            raise PermanentFailure(f"TLS error: {self.redactor.redact(_short(exc))}") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            if self._deadline.expired:  # the watchdog cut an answer still dripping in
                raise SoftTimeLimitExceeded(TIMED_OUT) from None
            if isinstance(exc.__context__, netguard.BlockedAddress) or "refused to connect" in str(
                exc
            ):
                blocked = _find_blocked(exc)
                raise PermanentFailure(self.redactor.redact(blocked or _short(exc))) from None
            self.breaker.record_failure()
            kind = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
            raise HttpError(
                f"{method} {self.redactor.redact(url)}: {kind}: {self.redactor.redact(_short(exc))}"
            ) from None
        except requests.RequestException as exc:
            raise PermanentFailure(self.redactor.redact(_short(exc))) from None
        return response, data, method, url

    def _read(self, response: requests.Response, deadline: httplimits.Deadline) -> bytes:
        last_beat = time.monotonic()

        def beat() -> None:
            nonlocal last_beat
            if time.monotonic() - last_beat > 1:
                self.ctx.heartbeat()
                self.ctx.check_cancelled()
                last_beat = time.monotonic()

        try:
            return httplimits.read_capped(response, self.max_bytes, deadline, on_chunk=beat)
        except httplimits.BodyTooLarge as exc:
            raise PermanentFailure(
                f"response of {exc.declared} bytes exceeds max_response_bytes ({self.max_bytes})"
                if exc.declared
                else f"response exceeds max_response_bytes ({self.max_bytes}); stopped reading"
            ) from None

    def _judge(
        self, method: str, url: str, response: requests.Response, data: bytes, elapsed_ms: int
    ) -> Any:
        status = response.status_code
        text = data.decode(response.encoding or "utf-8", "replace")
        self.metadata["response"] = {
            "status": status,
            "reason": response.reason,
            "headers": self._mask_headers(response.headers, set()),
            "bytes": len(data),
            "elapsed_ms": elapsed_ms,
            "body": self._preview(data),
        }
        self.ctx.output.write(self.redactor.redact(text))
        where = f"{method} {self.redactor.redact(url)}"
        if not _status_ok(status, self.config.get("expect_status")):
            if status == 429 or status >= 500:
                self.breaker.record_failure()
                wait = _retry_after_seconds(response.headers.get("Retry-After"))
                if wait is not None and status in (429, 503):
                    raise RetryAfter(
                        f"{where} returned {status}; server asks to retry after {wait:g}s", wait
                    )
                raise HttpError(f"{where} returned {status} {response.reason}")
            self.breaker.record_success()  # the host answered: it is up
            raise PermanentFailure(
                f"{where} returned {status} {response.reason} (expected {self._expected()})"
            )
        self.breaker.record_success()
        self._check_body(where, text)
        result: dict[str, Any] = {
            "status": status,
            "url": self.redactor.redact(url),
            "bytes": len(data),
            "elapsed_ms": elapsed_ms,
        }
        return result

    def _expected(self) -> str:
        expected = self.config.get("expect_status")
        return ", ".join(map(str, expected)) if expected else "2xx"

    def _check_body(self, where: str, text: str) -> None:
        expect_json = self.config.get("expect_json")
        if expect_json:
            path = expect_json["path"]
            try:
                actual = json_path(json.loads(text), path)
            except ValueError:
                raise PermanentFailure(
                    f"{where}: response is not JSON (expected {path} == {expect_json['equals']!r})"
                ) from None
            except KeyError:
                raise PermanentFailure(
                    f"{where}: response has no {path} (expected {expect_json['equals']!r})"
                ) from None
            if actual != expect_json["equals"]:
                shown = self.redactor.redact(json.dumps(actual, default=str))[:200]
                raise PermanentFailure(
                    f"{where}: {path} is {shown}, expected {expect_json['equals']!r}"
                )
        regex = self.config.get("expect_regex")
        if regex and not re.search(regex, text):
            raise PermanentFailure(f"{where}: response does not match expect_regex {regex!r}")


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500] or type(exc).__name__


def _find_blocked(exc: BaseException) -> str | None:
    seen = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, netguard.BlockedAddress):
            return str(node)
        for arg in getattr(node, "args", ()):
            if isinstance(arg, BaseException):
                found = _find_blocked(arg)
                if found:
                    return found
        node = node.__cause__ or node.__context__
    return None
