"""/api/v1/alerts/ and /channels/ for each persona: owner (of the alert's
job), operator, viewer, admin, outsider (no role), anonymous."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from alerts.services import alert_raise
from jobs.models import AuditEvent
from tests.factories import JobFactory, UserFactory

pytestmark = pytest.mark.django_db


def client_for(role: str | None, username: str | None = None) -> tuple[APIClient, object]:
    user = UserFactory(username=username or f"{role or 'outsider'}-user")
    if role:
        user.groups.add(Group.objects.get(name=role))
    client = APIClient()
    client.force_authenticate(user)
    return client, user


@pytest.fixture
def alert():
    owner = UserFactory(username="owner-user")
    owner.groups.add(Group.objects.get(name="viewer"))
    job = JobFactory(name="nightly", owner=owner)
    return alert_raise(type="job_failure", severity="high", title="Job nightly failed", job=job)


def test_anonymous_gets_401_and_outsider_403(alert):
    response = APIClient().get("/api/v1/alerts/")
    assert response.status_code == 401 and response.json()["error"]["code"]
    outsider, _ = client_for(None)
    assert outsider.get("/api/v1/alerts/").status_code == 403
    assert outsider.post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 403


def test_viewer_reads_but_cannot_acknowledge(alert):
    viewer, _ = client_for("viewer")
    listing = viewer.get("/api/v1/alerts/?status=open&min_severity=high&job=nightly").json()
    assert [a["id"] for a in listing["results"]] == [alert.pk]
    assert listing["results"][0]["job"] == "nightly" and listing["results"][0]["severity"] == "high"
    assert viewer.get("/api/v1/alerts/?min_severity=critical").json()["results"] == []
    detail = viewer.get(f"/api/v1/alerts/{alert.pk}/").json()
    assert detail["deliveries"] == [] and detail["requires_immediate_attention"] is True
    response = viewer.post(f"/api/v1/alerts/{alert.pk}/acknowledge/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_operator_acknowledges_then_resolves_with_notes(alert):
    operator, _ = client_for("operator")
    response = operator.post(f"/api/v1/alerts/{alert.pk}/acknowledge/")
    assert response.status_code == 200 and response.json()["status"] == "acknowledged"
    assert response.json()["acknowledged_by"] == "operator-user"
    again = operator.post(f"/api/v1/alerts/{alert.pk}/acknowledge/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    missing = operator.post(f"/api/v1/alerts/{alert.pk}/resolve/", {}, format="json")
    assert missing.status_code == 400 and missing.json()["error"]["fields"] == {"notes": "required"}
    done = operator.post(
        f"/api/v1/alerts/{alert.pk}/resolve/", {"notes": "restarted the DB"}, format="json"
    )
    assert done.status_code == 200 and done.json()["resolution_notes"] == "restarted the DB"
    assert done.json()["time_to_resolve"] is not None
    event = AuditEvent.objects.get(action="alert.resolve")
    assert (event.actor, event.source, event.reason) == ("operator-user", "api", "restarted the DB")
    assert event.client_ip == "127.0.0.1"


def test_owner_of_the_job_may_acknowledge_its_alert_without_operator_role(alert):
    owner = APIClient()
    owner.force_authenticate(alert.job.owner)
    assert owner.post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 200
    other = alert_raise(type="system_error", severity="low", title="not theirs")
    assert owner.post(f"/api/v1/alerts/{other.pk}/acknowledge/").status_code == 403


def test_unknown_alert_is_404_and_bad_filter_400():
    viewer, _ = client_for("viewer")
    assert viewer.get("/api/v1/alerts/424242/").status_code == 404
    response = viewer.get("/api/v1/alerts/?min_severity=urgent")
    assert response.status_code == 400 and "min_severity" in response.json()["error"]["fields"]


def test_stats_endpoint(alert):
    viewer, _ = client_for("viewer")
    stats = viewer.get("/api/v1/alerts/stats/?from=2000-01-01").json()
    assert (
        stats["total"] == 1
        and stats["by_severity"]["high"] == 1
        and stats["by_type"] == {"job_failure": 1}
    )
    assert viewer.get("/api/v1/alerts/stats/?from=yesterday").status_code == 400


def test_only_admins_manage_channels_and_secrets_are_masked(settings):
    settings.JOBS_HTTP_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    body = {
        "name": "hooks",
        "kind": "webhook",
        "secrets": {"url": "http://127.0.0.1:9/x", "secret": "0123456789abcdef"},
    }
    operator, _ = client_for("operator")
    assert operator.post("/api/v1/channels/", body, format="json").status_code == 403
    admin, _ = client_for("admin")
    created = admin.post("/api/v1/channels/", body, format="json")
    assert created.status_code == 201
    assert created.json()["secrets"] == {"url": "********", "secret": "********"}
    assert admin.post("/api/v1/channels/", body, format="json").status_code == 409
    pk = created.json()["id"]
    patched = admin.patch(
        f"/api/v1/channels/{pk}/",
        {"min_severity": "high", "secrets": {"url": "********", "secret": "********"}},
        format="json",
    )
    assert patched.status_code == 200 and patched.json()["min_severity"] == "high"
    # Test against a closed port: the failure is reported, not raised.
    tested = admin.post(f"/api/v1/channels/{pk}/test/")
    assert (
        tested.status_code == 200
        and tested.json()["status"] == "failed"
        and tested.json()["attempt_log"][0]["ok"] is False
    )
    assert operator.get("/api/v1/channels/").json()["results"][0]["name"] == "hooks"
    actions = set(AuditEvent.objects.filter(target_type="channel").values_list("action", flat=True))
    assert actions == {"channel.create", "channel.update", "channel.test"}
    create = AuditEvent.objects.get(action="channel.create")
    assert "0123456789abcdef" not in str(create.changes)
