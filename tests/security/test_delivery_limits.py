"""Issue 12 item 9: outgoing webhook/chat deliveries and HTTP jobs are bounded.
A 300 MiB answer was read whole into the web process; a server dripping one
byte at a time held a request 40 s against a 10 s timeout, under a row lock;
a 307/308 to another origin would re-send a body carrying secrets."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager, suppress

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection, transaction
from django.test import override_settings

from alerts.models import Delivery, DeliveryStatus
from alerts.services import channel_create, delivery_attempt
from alerts.services.notify import notify
from jobs.actors import Actor
from jobs.execution.context import PermanentFailure
from jobs.execution.kinds import get_kind
from tests.api.conftest import _client
from tests.jobs.kinds_support import http_server, make_ctx, make_job
from tests.monitoring.history import user_with_role

SYSTEM = Actor.system()
MIB = 1024 * 1024


@pytest.fixture
def loopback(settings):
    settings.JOBS_HTTP_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.ALERTS_HTTP_TIMEOUT = 1.0
    return settings


def _slack(url: str):
    return channel_create({"name": "ops", "kind": "slack", "secrets": {"url": url}}, actor=SYSTEM)


def _test_through_the_api(channel) -> tuple[dict, float]:
    admin = _client(user_with_role("admin", "alice"))
    started = time.monotonic()
    answer = admin.post(f"/api/v1/channels/{channel.pk}/test/")
    assert answer.status_code == 200
    return answer.json(), time.monotonic() - started


def _drip(piece: bytes, pause: float, count: int):
    for _ in range(count):
        time.sleep(pause)
        yield piece


@pytest.mark.django_db
def test_a_huge_answer_is_not_read_into_memory(loopback):
    sent = []

    def huge(request):
        def body():
            for _ in range(64):  # 64 MiB, sent as fast as the reader takes it
                sent.append(MIB)
                yield b"x" * MIB

        return 200, {}, body()

    with http_server(huge) as srv:
        answer, took = _test_through_the_api(_slack(srv.url("/hook")))

    assert answer["status"] == "sent"
    assert sum(sent) < 16 * MIB  # the reader stopped early; socket buffers hold the rest


@pytest.mark.django_db
def test_an_answer_dripping_in_is_cut_at_the_total_deadline(loopback):
    def slow(request):
        return 200, {}, _drip(b"x", 0.2, 40)  # 8 s of body, each read well under 1 s

    with http_server(slow) as srv:
        answer, took = _test_through_the_api(_slack(srv.url("/hook")))

    assert answer["status"] == "failed"
    assert "timed out" in answer["last_error"]
    assert took < 3


@contextmanager
def raw_server(script):
    """One connection answered by `script(sock)`: for answers http.server
    cannot make (headers, or a declared-length body, one byte at a time)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = listener.accept()
        with conn, suppress(OSError):
            conn.recv(65536)
            script(conn)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    finally:
        listener.close()


def drip_headers(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for _ in range(40):
        time.sleep(0.2)
        conn.sendall(b"X")  # one header byte at a time
    conn.sendall(b": y\r\nContent-Length: 0\r\n\r\n")


def drip_body(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n")
    for _ in range(40):
        time.sleep(0.2)
        conn.sendall(b"x")


@pytest.mark.django_db
def test_headers_dripping_in_are_cut_at_the_total_deadline(loopback):
    with raw_server(drip_headers) as url:
        answer, took = _test_through_the_api(_slack(url))

    assert answer["status"] == "failed" and "timed out" in answer["last_error"]
    assert took < 3


@pytest.mark.django_db
def test_deliveries_follow_no_redirect(loopback):
    with (
        http_server(lambda r: (200, {}, b"ok")) as elsewhere,
        http_server(lambda r: (307, {"Location": elsewhere.url("/x")}, b"")) as srv,
    ):
        answer, _ = _test_through_the_api(_slack(srv.url("/hook")))

    assert answer["status"] == "failed" and answer["last_error"].startswith("HTTP 307")
    assert elsewhere.requests == []


@pytest.mark.django_db(transaction=True)
def test_no_row_lock_is_held_while_sending_and_a_duplicate_message_sends_nothing(loopback):
    loopback.ALERTS_HTTP_TIMEOUT = 10.0
    release, received = threading.Event(), threading.Event()

    def held(request):
        received.set()
        release.wait(8)
        return 200, {}, b"ok"

    with http_server(held) as srv:
        channel = _slack(srv.url("/hook"))
        with transaction.atomic():
            delivery = channel_test_delivery(channel)

        def send():
            try:
                delivery_attempt(delivery.pk)
            finally:
                connection.close()

        sender = threading.Thread(target=send)
        sender.start()
        try:
            assert received.wait(5)
            with transaction.atomic():  # raises if the sender held the row lock
                Delivery.objects.select_for_update(nowait=True).get(pk=delivery.pk)
            assert delivery_attempt(delivery.pk) is None  # a redelivered task message
        finally:
            release.set()
            sender.join(10)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(srv.requests)) == (DeliveryStatus.SENT, 1, 1)
    assert delivery.claimed_until is None


def channel_test_delivery(channel) -> Delivery:
    """A pending delivery to `channel`, as notify() creates for an alert."""
    from alerts.models import Alert

    alert = Alert.objects.create(type="job_failure", severity="high", title="t", fingerprint="f")
    channel.is_default = True
    channel.save()
    notify(alert, "opened")
    return Delivery.objects.get(alert=alert, channel=channel)


# --- HTTP jobs: the same limits through jobs.execution.httpcall ----------------

http = get_kind("http")
TOKEN = "tok-3f9a8c7e-super-secret"


def _run_job(config, parameters=None, **kw):
    job = make_job("http", config)
    return http.execute(make_ctx(job, parameters, **kw))


def test_http_job_refuses_a_cross_origin_307_that_would_resend_a_secret_body():
    with (
        http_server(lambda r: (200, {}, b"ok")) as elsewhere,
        override_settings(JOBS_HTTP_ALLOWED_NETWORKS=["127.0.0.1/32", "127.0.0.2/32"]),
        http_server(
            lambda r: (307, {"Location": elsewhere.url("/steal")}, b""), host="127.0.0.2"
        ) as origin,
    ):
        config = {
            "url": origin.url("/submit"),
            "method": "POST",
            "body": {"api_token": "{api_token}"},
        }
        with pytest.raises(PermanentFailure, match="refused to follow a 307 redirect"):
            _run_job(config, {"api_token": TOKEN})

    assert TOKEN.encode() in origin.requests[0].body  # sent where it was configured
    assert elsewhere.requests == []  # and nowhere else


def test_http_job_follows_a_same_origin_307_with_its_body():
    def route(request):
        if request.path == "/old":
            return 307, {"Location": "/new"}, b""
        return 200, {}, b"ok"

    with (
        override_settings(JOBS_HTTP_ALLOWED_NETWORKS=["127.0.0.1/32"]),
        http_server(route) as srv,
    ):
        result = _run_job({"url": srv.url("/old"), "method": "POST", "body": {"a": 1}})

    assert result["status"] == 200 and srv.requests[1].body == b'{"a": 1}'


@pytest.mark.parametrize("script", [drip_headers, drip_body])
def test_http_job_answer_dripping_in_is_cut_at_its_timeout(script):
    with override_settings(JOBS_HTTP_ALLOWED_NETWORKS=["127.0.0.1/32"]), raw_server(script) as url:
        started = time.monotonic()
        with pytest.raises(SoftTimeLimitExceeded):
            _run_job({"url": url, "timeout": 1})
        assert time.monotonic() - started < 3
