"""Issue 12 item 13: the API is throttled per client address (anonymous) and
per user; over the rate a client gets 429 in the JSON error shape."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient

from tests.api.conftest import assert_error
from tests.monitoring.history import user_with_role

pytestmark = pytest.mark.django_db


def low_rates(anon: str = "3/min", user: str = "5/min"):
    return override_settings(
        REST_FRAMEWORK={
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"anon": anon, "user": user},
        }
    )


def fresh_address() -> str:
    """An address (and so a throttle key) no earlier request has used."""
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    cache.delete(f"throttle_anon_{address}")
    return address


def test_a_user_over_the_rate_gets_429_in_the_error_shape_with_retry_after(db):
    user, other = user_with_role("viewer", "poller"), user_with_role("viewer", "other-poller")
    cache.delete_many([f"throttle_user_{user.pk}", f"throttle_user_{other.pk}"])
    client = APIClient()
    client.force_authenticate(user)
    with low_rates(user="5/min"):
        for _ in range(5):
            assert client.get("/api/v1/jobs/").status_code == 200
        refused = client.get("/api/v1/jobs/")
        err = assert_error(refused, 429, "throttled")
        assert 0 < int(refused["Retry-After"]) <= 60
        assert "throttled" in err["message"].lower()
        # Another user is counted on their own.
        other_client = APIClient()
        other_client.force_authenticate(other)
        assert other_client.get("/api/v1/jobs/").status_code == 200


def test_anonymous_callers_are_throttled_per_address(db):
    address = fresh_address()
    client = APIClient(REMOTE_ADDR=address)
    with low_rates(anon="3/min"):
        for _ in range(3):
            assert client.get("/api/v1/schema/?format=json").status_code == 200
        assert_error(client.get("/api/v1/schema/?format=json"), 429, "throttled")


def test_a_forged_x_forwarded_for_does_not_reset_the_count(db):
    """Without a trusted proxy in front, X-Forwarded-For is the client's own
    words: a new one per request must not make a new throttle bucket."""
    address = fresh_address()
    client = APIClient(REMOTE_ADDR=address)
    with low_rates(anon="3/min"):
        for i in range(3):
            forged = {"HTTP_X_FORWARDED_FOR": f"192.0.2.{i + 1}"}
            assert client.get("/api/v1/schema/?format=json", **forged).status_code == 200
        refused = client.get("/api/v1/schema/?format=json", HTTP_X_FORWARDED_FOR="192.0.2.99")
        assert_error(refused, 429, "throttled")


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_behind_a_trusted_proxy_each_client_address_has_its_own_count(db):
    first, second = fresh_address(), fresh_address()
    while second == first:
        second = fresh_address()
    via_proxy = APIClient(REMOTE_ADDR="10.1.2.3")
    with low_rates(anon="2/min"):
        for _ in range(2):
            ok = via_proxy.get("/api/v1/schema/?format=json", HTTP_X_FORWARDED_FOR=first)
            assert ok.status_code == 200
        # A client-supplied entry left of the real one changes nothing.
        spoofed = f"203.0.113.50, {first}"
        refused = via_proxy.get("/api/v1/schema/?format=json", HTTP_X_FORWARDED_FOR=spoofed)
        assert_error(refused, 429, "throttled")
        ok = via_proxy.get("/api/v1/schema/?format=json", HTTP_X_FORWARDED_FOR=second)
        assert ok.status_code == 200
