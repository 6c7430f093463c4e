"""The `log` channel: what `make run` creates so alerts reach the worker's
output with nothing configured."""

from __future__ import annotations

import logging

import pytest

from alerts.models import Channel, Delivery
from alerts.services import alert_raise, channel_ensure_default, delivery_attempt
from jobs.actors import Actor
from tests.alerts.test_api import client_for

pytestmark = pytest.mark.django_db


def test_with_no_default_channel_a_log_channel_takes_the_alerts(caplog):
    created = channel_ensure_default(actor=Actor.system())
    assert (created.name, created.kind, created.is_default) == ("log", "log", True)
    assert channel_ensure_default(actor=Actor.system()) is None  # idempotent

    alert_raise(type="system_error", severity="high", title="disk almost full", message="93 %")
    delivery = Delivery.objects.get(channel=created)
    with caplog.at_level(logging.WARNING, logger="jobwarden.alerts"):
        delivery_attempt(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    [record] = [r for r in caplog.records if r.name == "jobwarden.alerts"]
    assert record.levelno == logging.WARNING
    assert "[high]" in record.getMessage() and "disk almost full" in record.getMessage()


def test_an_operators_own_default_channel_or_log_channel_is_left_alone():
    admin, _ = client_for("admin")
    mail = {"name": "ops-mail", "kind": "email", "config": {"recipients": ["ops@example.com"]}}
    assert (
        admin.post("/api/v1/channels/", {**mail, "is_default": True}, format="json").status_code
        == 201
    )
    assert channel_ensure_default(actor=Actor.system()) is None
    assert not Channel.objects.filter(kind="log").exists()


def test_a_log_channel_through_the_api_validates_its_level():
    admin, _ = client_for("admin")
    bad = admin.post(
        "/api/v1/channels/",
        {"name": "quiet", "kind": "log", "config": {"level": "loud"}},
        format="json",
    )
    assert bad.status_code == 400 and bad.json()["error"]["fields"] == {"level": "invalid choice"}
    good = admin.post(
        "/api/v1/channels/",
        {"name": "quiet", "kind": "log", "config": {"level": "info"}},
        format="json",
    )
    assert good.status_code == 201 and good.json()["config"] == {"level": "info"}
    assert admin.post(f"/api/v1/channels/{good.json()['id']}/test/").json()["status"] == "sent"
