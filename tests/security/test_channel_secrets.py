"""Issue 12 item 5: a Slack/Teams/webhook URL is a secret (it alone lets
anyone post to the channel). Delivery errors quoted it: urllib3 names the
path ("Max retries exceeded with url: /services/..."), receivers echo it.
Viewers read those errors in /alerts/{id}/, in channel-test answers and in the
notification-failure alert. Every error text is redacted where it is made."""

from __future__ import annotations

import json

import pytest

from alerts.models import Alert, AlertType, Channel
from alerts.services import alert_raise, channel_create, delivery_attempt
from jobs.actors import Actor
from tests.alerts.servers import free_port
from tests.api.conftest import _client
from tests.jobs.kinds_support import http_server
from tests.monitoring.history import user_with_role

pytestmark = pytest.mark.django_db

PATH = "/services/T0123ABCD/B0456EFGH/Xq9ZsecretTOKENvalue42ab"
PIECES = ("T0123ABCD", "B0456EFGH", "Xq9ZsecretTOKENvalue42ab")


def _assert_no_secret(text: str) -> None:
    for piece in PIECES:
        assert piece not in text, text


@pytest.fixture
def loopback(settings):
    settings.JOBS_HTTP_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.ALERTS_DELIVERY_MAX_ATTEMPTS = 1
    return settings


def _slack(url: str, **over) -> Channel:
    return channel_create(
        {"name": "ops", "kind": "slack", "secrets": {"url": url}, "is_default": True, **over},
        actor=Actor.system(),
    )


def _echo_path(request):
    # A receiver that quotes the URL it was called on, as many 404 pages do.
    return 404, {"Content-Type": "text/plain"}, f"no hook at {request.path}".encode()


@pytest.mark.parametrize("receiver", ["closed port", "echoing 404"])
def test_channel_test_answer_does_not_show_the_webhook_url(loopback, receiver):
    admin = _client(user_with_role("admin", "alice"))
    if receiver == "closed port":
        channel = _slack(f"http://127.0.0.1:{free_port()}{PATH}")
        answer = admin.post(f"/api/v1/channels/{channel.pk}/test/")
    else:
        with http_server(_echo_path) as srv:
            channel = _slack(srv.url(PATH))
            answer = admin.post(f"/api/v1/channels/{channel.pk}/test/")

    assert answer.status_code == 200
    assert answer.json()["status"] == "failed" and answer.json()["last_error"]
    _assert_no_secret(json.dumps(answer.json()))


def test_viewer_sees_no_webhook_url_in_alerts_or_the_notification_failure_alert(loopback):
    with http_server(_echo_path) as srv:
        _slack(srv.url(PATH))
        alert = alert_raise(type=AlertType.JOB_FAILURE, severity="high", title="job broke")
        for delivery in alert.deliveries.all():
            delivery_attempt(delivery.pk)  # what the alerts.deliver task does
        assert len(srv.requests) == 1 and srv.requests[0].path == PATH  # it was really sent

    failure = Alert.objects.get(type=AlertType.NOTIFICATION_FAILURE)
    viewer = _client(user_with_role("viewer", "vera"))
    for pk in (alert.pk, failure.pk):
        shown = viewer.get(f"/api/v1/alerts/{pk}/")
        assert shown.status_code == 200
        _assert_no_secret(json.dumps(shown.json()))
    assert "no hook at ********" in failure.message


def test_webhook_signing_secret_is_redacted_too(loopback):
    secret = "s1gning-SECRET-0123456789"

    def echo_secret(request):  # a misconfigured receiver echoing what it knows
        return 400, {}, f"bad signature, expected HMAC with {secret}".encode()

    with http_server(echo_secret) as srv:
        channel = channel_create(
            {
                "name": "hook",
                "kind": "webhook",
                "secrets": {"url": srv.url("/h"), "secret": secret},
            },
            actor=Actor.system(),
        )
        answer = _client(user_with_role("admin", "alice")).post(
            f"/api/v1/channels/{channel.pk}/test/"
        )

    assert answer.json()["status"] == "failed"
    assert secret not in json.dumps(answer.json())
