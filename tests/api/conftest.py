"""API clients for each persona: admin, operator, viewer, outsider, anonymous, owner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from tests.monitoring.history import recurring_job, user_with_role


def _client(user=None, **kw) -> APIClient:
    client = APIClient(REMOTE_ADDR="203.0.113.7", **kw)
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def admin_client(db):
    return _client(user_with_role("admin", "alice"))


@pytest.fixture
def operator_client(db):
    return _client(user_with_role("operator", "oscar"))


@pytest.fixture
def viewer_client(db):
    return _client(user_with_role("viewer", "vera"))


@pytest.fixture
def outsider_client(db):
    return _client(user_with_role(None, "olga"))


@pytest.fixture
def anon_client(db):
    return _client()


@pytest.fixture
def job(db):
    # Created an hour ago: no past fire is owed, so its health starts unknown.
    return recurring_job(
        name="nightly-report",
        cron="0 2 * * *",
        timezone="Europe/Prague",
        tags=["reports"],
        created_at=datetime.now(UTC) - timedelta(hours=1),
    )


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]
