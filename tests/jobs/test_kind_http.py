"""HTTP jobs against a real server on loopback (allowed explicitly through
JOBS_HTTP_ALLOWED_NETWORKS in each test): expectations, transient vs
permanent failures, size limit, redirects through the SSRF guard, masking,
and the per-host circuit breaker in Redis."""

from __future__ import annotations

import json
import time

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.test import override_settings

from jobs.errors import ValidationError
from jobs.execution.circuit import CircuitBreaker
from jobs.execution.context import PermanentFailure, RetryAfter, RunSkipped
from jobs.execution.kinds import get_kind
from jobs.execution.kinds.http import HttpError, json_path
from tests.jobs.kinds_support import http_server, json_response, make_ctx, make_job

http = get_kind("http")
TOKEN = "tok-3f9a8c7e-super-secret"


@pytest.fixture(autouse=True)
def _loopback_allowed():
    with override_settings(JOBS_HTTP_ALLOWED_NETWORKS=["127.0.0.1/32"]):
        yield


def call(config, parameters=None, **kw):
    job = make_job("http", config)
    ctx = make_ctx(job, parameters, **kw)
    return http.execute(ctx), ctx


def echo_auth(req):
    return json_response(
        {"ok": True, "seen_auth": req.headers.get("Authorization"), "path": req.path}
    )


# --- success and what is kept -------------------------------------------------


def test_bearer_call_succeeds_and_keeps_request_and_response_with_the_secret_masked():
    with http_server(echo_auth) as srv:
        result, ctx = call(
            {
                "url": srv.url("/sync?day={today}"),
                "auth": {"type": "bearer", "token": TOKEN},
                "expect_json": {"path": "$.ok", "equals": True},
            },
            {"today": "2024-05-01"},
        )
    assert srv.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert result["status"] == 200
    meta = ctx.metadata["http"]
    assert meta["request"]["headers"]["Authorization"] == "********"
    assert meta["request"]["url"].endswith("/sync?day=2024-05-01")
    assert meta["response"]["status"] == 200
    # The server echoed the token: it is masked in output and metadata too.
    stored = json.dumps(ctx.metadata) + ctx.output.getvalue()
    assert TOKEN not in stored and "********" in ctx.output.getvalue()


def test_basic_and_header_auth_are_sent_and_masked():
    with http_server(lambda r: json_response({"key": r.headers.get("X-Api-Key")})) as srv:
        _, ctx = call(
            {"url": srv.url("/"), "auth": {"type": "header", "name": "X-Api-Key", "value": TOKEN}}
        )
        assert srv.requests[0].headers["X-Api-Key"] == TOKEN
        assert TOKEN not in ctx.output.getvalue() + json.dumps(ctx.metadata)
    with http_server(echo_auth) as srv:
        _, ctx = call(
            {
                "url": srv.url("/"),
                "auth": {"type": "basic", "username": "svc", "password": "pa55-word-x"},
            }
        )
        assert srv.requests[0].headers["Authorization"].startswith("Basic ")
        # The base64 form of user:password is a secret as well.
        assert srv.requests[0].headers["Authorization"].split()[1] not in ctx.output.getvalue()


def test_json_body_template_escapes_values_so_they_stay_data():
    with http_server(lambda r: json_response({"got": json.loads(r.body)})) as srv:
        call(
            {
                "method": "POST",
                "url": srv.url("/"),
                "content_type": "application/json",
                "body": '{"syncDate": "{SyncDate}", "clientId": {ClientId}, "note": "{Note}"}',
            },
            {"SyncDate": "2024-05-01", "ClientId": 42, "Note": 'x", "admin": true, "y": "'},
        )
    sent = json.loads(srv.requests[0].body)
    assert sent == {"syncDate": "2024-05-01", "clientId": 42, "note": 'x", "admin": true, "y": "'}
    assert srv.requests[0].headers["Content-Type"] == "application/json"


def test_json_body_refuses_a_non_scalar_value_outside_quotes():
    with (
        http_server(echo_auth) as srv,
        pytest.raises(PermanentFailure, match="outside a JSON string"),
    ):
        call(
            {
                "method": "POST",
                "url": srv.url("/"),
                "content_type": "application/json",
                "body": '{"id": {Id}}',
            },
            {"Id": '1, "admin": true'},
        )
    assert srv.requests == []


def test_url_parameters_are_percent_encoded_in_path_and_query():
    with http_server(echo_auth) as srv:
        call({"url": srv.url("/items/{Item}?q={Q}")}, {"Item": "a/../b", "Q": "x&admin=1"})
    assert srv.requests[0].path == "/items/a%2F..%2Fb?q=x%26admin%3D1"


def test_header_parameter_with_a_line_break_is_refused():
    with http_server(echo_auth) as srv, pytest.raises(PermanentFailure, match="line breaks"):
        call({"url": srv.url("/"), "headers": {"X-Trace": "{T}"}}, {"T": "a\r\nX-Admin: 1"})
    assert srv.requests == []


# --- expectations -------------------------------------------------------------


def test_200_with_an_error_body_fails_the_json_expectation_permanently():
    with (
        http_server(lambda r: json_response({"error": "Invalid token"})) as srv,
        pytest.raises(PermanentFailure, match=r"response has no \$.ok"),
    ):
        call({"url": srv.url("/"), "expect_json": {"path": "$.ok", "equals": True}})
    with (
        http_server(lambda r: json_response({"status": "error"})) as srv,
        pytest.raises(PermanentFailure, match=r'\$.status is "error", expected \'ok\''),
    ):
        call({"url": srv.url("/"), "expect_json": {"path": "$.status", "equals": "ok"}})


def test_expect_regex_and_expect_status():
    with http_server(lambda r: (202, {}, b"queued job 17")) as srv:
        result, _ = call(
            {"url": srv.url("/"), "expect_status": [202], "expect_regex": r"queued job \d+"}
        )
        assert result["status"] == 202
        with pytest.raises(PermanentFailure, match="does not match expect_regex"):
            call({"url": srv.url("/"), "expect_status": ["2xx"], "expect_regex": "^done$"})
        with pytest.raises(PermanentFailure, match=r"returned 202 Accepted \(expected 200\)"):
            call({"url": srv.url("/"), "expect_status": [200]})


def test_json_path_follows_keys_and_indexes():
    doc = {"data": {"items": [{"state": "ok"}]}}
    assert json_path(doc, "$.data.items[0].state") == "ok"
    assert json_path(doc, "data.items.0.state") == "ok"
    with pytest.raises(KeyError):
        json_path(doc, "$.data.items[3]")


# --- transient vs permanent ---------------------------------------------------


def test_4xx_is_permanent_and_5xx_is_transient():
    with (
        http_server(lambda r: (404, {}, b"nope")) as srv,
        pytest.raises(PermanentFailure, match="returned 404"),
    ):
        call({"url": srv.url("/")})
    with (
        http_server(lambda r: (502, {}, b"bad gateway")) as srv,
        pytest.raises(HttpError, match="returned 502"),
    ):
        call({"url": srv.url("/")})


def test_429_and_503_with_retry_after_ask_for_that_wait():
    with (
        http_server(lambda r: (429, {"Retry-After": "7"}, b"slow down")) as srv,
        pytest.raises(RetryAfter) as exc,
    ):
        call({"url": srv.url("/")})
    assert exc.value.seconds == 7
    with (
        http_server(lambda r: (503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, b"")) as srv,
        pytest.raises(RetryAfter) as exc,
    ):
        call({"url": srv.url("/")})
    assert exc.value.seconds == 0  # a date in the past: retry now


def test_connection_refused_is_transient():
    with http_server(echo_auth) as srv:
        url = srv.url("/")
    with pytest.raises(HttpError, match="connection failed"):
        call({"url": url})


def test_response_larger_than_the_limit_is_stopped_while_streaming():
    chunks = (b"x" * 1024 for _ in range(1000))  # chunked: no Content-Length to trust
    with (
        http_server(lambda r: (200, {}, chunks)) as srv,
        pytest.raises(PermanentFailure, match="exceeds max_response_bytes"),
    ):
        call({"url": srv.url("/"), "max_response_bytes": 10_000})
    with (
        http_server(lambda r: (200, {}, b"y" * 50_000)) as srv,
        pytest.raises(PermanentFailure, match="50000 bytes exceeds"),
    ):
        call({"url": srv.url("/"), "max_response_bytes": 10_000})


def test_slow_server_is_cut_off_at_the_job_timeout():
    def slow(req):
        time.sleep(5)
        return json_response({})

    with http_server(slow) as srv:
        started = time.monotonic()
        with pytest.raises((SoftTimeLimitExceeded, HttpError)):
            call({"url": srv.url("/")}, timeout=2)
        assert time.monotonic() - started < 4


# --- redirects and the SSRF guard ---------------------------------------------


def test_redirect_is_followed_and_credentials_are_not_sent_to_another_host():
    with (
        http_server(echo_auth) as target,
        override_settings(JOBS_HTTP_ALLOWED_NETWORKS=["127.0.0.1/32", "127.0.0.2/32"]),
        http_server(
            lambda r: (302, {"Location": target.url("/landed")}, b""), host="127.0.0.2"
        ) as origin,
    ):
        result, ctx = call(
            {"url": origin.url("/start"), "auth": {"type": "bearer", "token": TOKEN}}
        )
    assert result["url"] == target.url("/landed")
    assert ctx.metadata["http"]["redirects"] == [{"status": 302, "location": target.url("/landed")}]
    assert origin.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert "Authorization" not in target.requests[0].headers


def test_redirect_to_loopback_is_refused_when_only_the_origin_is_allowed():
    # The origin lives on 127.0.0.2, the only allowed address; it redirects
    # to a server on 127.0.0.1, which is plain loopback and must not be hit.
    only_origin = override_settings(JOBS_HTTP_ALLOWED_NETWORKS=["127.0.0.2/32"])
    refused = pytest.raises(
        PermanentFailure, match=r"refused to connect to 127.0.0.1: a loopback address"
    )
    with (
        http_server(lambda r: json_response({"secret": "internal"})) as internal,
        only_origin,
        http_server(
            lambda r: (301, {"Location": internal.url("/admin")}, b""), host="127.0.0.2"
        ) as origin,
        refused,
    ):
        call({"url": origin.url("/")})
    assert len(origin.requests) == 1
    assert internal.requests == []


def test_loopback_is_refused_without_the_setting():
    with http_server(echo_auth) as srv, override_settings(JOBS_HTTP_ALLOWED_NETWORKS=[]):
        with pytest.raises(PermanentFailure, match="loopback"):
            call({"url": srv.url("/")})
        with pytest.raises(PermanentFailure, match="loopback"):
            call({"url": f"http://localhost:{srv.port}/"})
        with pytest.raises(PermanentFailure, match="non-canonical"):
            call({"url": f"http://2130706433:{srv.port}/"})
    assert srv.requests == []


def test_too_many_redirects_fail():
    with (
        http_server(lambda r: (302, {"Location": "/again"}, b"")) as srv,
        override_settings(JOBS_HTTP_MAX_REDIRECTS=3),
        pytest.raises(PermanentFailure, match="more than 3 redirects"),
    ):
        call({"url": srv.url("/")})
    assert len(srv.requests) == 4


# --- circuit breaker ----------------------------------------------------------


def test_circuit_opens_after_consecutive_failures_and_skips_until_the_cooldown():
    with (
        http_server(lambda r: (500, {}, b"down")) as srv,
        override_settings(JOBS_HTTP_CIRCUIT_FAILURES=3, JOBS_HTTP_CIRCUIT_COOLDOWN=1.5),
    ):
        for _ in range(3):
            with pytest.raises(HttpError):
                call({"url": srv.url("/")})
        with pytest.raises(
            RunSkipped, match=rf"circuit open for 127.0.0.1:{srv.port} after 3 consecutive failures"
        ):
            call({"url": srv.url("/")})
        assert len(srv.requests) == 3  # the skipped run did not call
        time.sleep(1.6)
        with pytest.raises(HttpError):  # half-open: one trial call, fails, re-opens
            call({"url": srv.url("/")})
        assert len(srv.requests) == 4
        with pytest.raises(RunSkipped):
            call({"url": srv.url("/")})


def test_success_closes_the_circuit():
    responses = iter([(500, {}, b"")] * 2 + [json_response({"ok": True})] + [(500, {}, b"")] * 2)
    with (
        http_server(lambda r: next(responses)) as srv,
        override_settings(JOBS_HTTP_CIRCUIT_FAILURES=3),
    ):
        for _ in range(2):
            with pytest.raises(HttpError):
                call({"url": srv.url("/")})
        call({"url": srv.url("/")})
        assert CircuitBreaker(f"127.0.0.1:{srv.port}").state() == (0, 0.0)
        for _ in range(2):
            with pytest.raises(HttpError):  # two more failures: still below 3 in a row
                call({"url": srv.url("/")})


# --- save-time validation -----------------------------------------------------


@pytest.mark.parametrize(
    "config, field",
    [
        ({"url": "ftp://example.com/x"}, "config.url"),
        ({"url": "file:///etc/passwd"}, "config.url"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "config.url"),
        ({"url": "http://0x7f000001/"}, "config.url"),
        ({"url": "https://example.com", "method": "TRACE"}, "config.method"),
        ({"url": "https://example.com", "headers": {"X-A": "a\r\nB: c"}}, "config.headers.X-A"),
        ({"url": "https://example.com", "auth": {"type": "digest"}}, "config.auth.type"),
        ({"url": "https://example.com", "auth": {"type": "bearer"}}, "config.auth.token"),
        ({"url": "https://example.com", "expect_status": [700]}, "config.expect_status"),
        ({"url": "https://example.com", "expect_regex": "("}, "config.expect_regex"),
        ({"url": "https://example.com", "expect_json": {"path": "$.a"}}, "config.expect_json"),
        ({"url": "https://example.com", "max_response_bytes": 0}, "config.max_response_bytes"),
        ({"url": "https://example.com", "verify": False}, "config.verify"),
    ],
)
def test_bad_http_config_is_refused_naming_the_field(config, field):
    with override_settings(JOBS_HTTP_ALLOWED_NETWORKS=[]), pytest.raises(ValidationError) as exc:
        http.validate({"config": config})
    assert exc.value.message.startswith(field), exc.value.message


# --- TLS ----------------------------------------------------------------------


@pytest.fixture
def https_server(tmp_path):
    """A loopback HTTPS server with a freshly made self-signed certificate."""
    import datetime as dt
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    with http_server(lambda r: json_response({"ok": True}), tls=context) as srv:
        yield srv, str(cert_file)


def test_tls_is_verified_by_default_and_a_job_may_name_its_ca_bundle(https_server):
    srv, bundle = https_server
    url = f"https://127.0.0.1:{srv.port}/"
    with pytest.raises(PermanentFailure, match="TLS error"):
        call({"url": url})
    result, _ = call({"url": url, "ca_bundle": bundle})
    assert result["status"] == 200
    result, _ = call({"url": url, "verify_tls": False})
    assert result["status"] == 200
