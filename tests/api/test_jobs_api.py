"""/api/v1/jobs/…: list, create, edit, delete, enable/disable, trigger, retry, reset health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobs.models import AuditEvent, Job, JobRun
from monitoring.services import health_refresh
from tests.api.conftest import _client, assert_error
from tests.monitoring.history import add_runs, recurring_job, set_live_state, user_with_role

pytestmark = pytest.mark.django_db
SPEC = {
    "name": "db-export",
    "kind": "python",
    "target": "jobs.examples:report_progress",  # registered (@runnable): no execution right needed
    "cron": "15 3 * * *",
    "timezone": "Europe/Prague",
}
MONITORING_KEYS = {
    "health",
    "is_healthy",
    "requires_attention",
    "is_running",
    "success_rate",
    "avg_duration_ms",
    "time_until_next_run",
}


def audit(action: str) -> AuditEvent:
    return AuditEvent.objects.get(action=action)


def test_list_has_monitoring_keys_without_a_query_per_job(
    viewer_client, job, django_assert_max_num_queries
):
    for i in range(20):
        other = recurring_job(name=f"bulk-{i:02d}", cron="", schedule_type="manual")
        set_live_state(
            other, add_runs(other, [{"at": datetime.now(UTC) - timedelta(hours=1), "duration": 1}])
        )
    add_runs(job, [{"at": datetime.now(UTC), "status": "running"}])
    health_refresh()
    with django_assert_max_num_queries(6):
        response = viewer_client.get("/api/v1/jobs/?page_size=100")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 21
    first = next(j for j in body["results"] if j["name"] == "nightly-report")
    assert set(first) >= MONITORING_KEYS
    assert first["is_running"] is True
    assert (
        first["health"] == "unknown" and first["requires_attention"] is False
    )  # never finished a run
    assert body["results"][0]["health"] == "healthy" and body["results"][0]["is_healthy"] is True


def test_list_filters(viewer_client, job):
    recurring_job(name="disabled-one", enabled=False, kind="python")
    failing = recurring_job(name="failing", tags=["etl"])
    set_live_state(
        failing,
        add_runs(
            failing,
            [
                {
                    "at": datetime.now(UTC) - timedelta(minutes=i + 1),
                    "status": "failed",
                    "duration": 1,
                }
                for i in range(5)
            ],
        ),
    )
    health_refresh()

    def names(query):
        response = viewer_client.get(f"/api/v1/jobs/?{query}")
        assert response.status_code == 200, response.content
        return [j["name"] for j in response.json()["results"]]

    assert names("enabled=false") == ["disabled-one"]
    assert names("health=critical") == ["failing"]
    assert names("status=failed") == ["failing"]
    assert names("tag=reports") == ["nightly-report"]
    assert names("search=NIGHT") == ["nightly-report"]
    assert names("kind=python") == ["disabled-one", "failing", "nightly-report"]
    assert_error(viewer_client.get("/api/v1/jobs/?health=meh"), 400, "invalid")
    assert_error(viewer_client.get("/api/v1/jobs/?enabled=maybe"), 400, "invalid")


def test_admin_creates_a_job_and_it_is_audited_with_the_client_address(admin_client):
    response = admin_client.post("/api/v1/jobs/", {**SPEC, "reason": "ticket 42"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "db-export" and response.json()["health"] == "unknown"
    event = audit("job.create")
    assert (event.actor, event.source, event.client_ip, event.reason) == (
        "alice",
        "api",
        "203.0.113.7",
        "ticket 42",
    )


@pytest.mark.parametrize("persona", ["operator_client", "viewer_client"])
def test_only_admins_create_jobs(persona, request):
    assert_error(request.getfixturevalue(persona).post("/api/v1/jobs/", SPEC, format="json"), 403)
    assert not Job.objects.filter(name="db-export").exists()


def test_bad_cron_is_a_400_naming_the_field(admin_client):
    err = assert_error(
        admin_client.post("/api/v1/jobs/", {**SPEC, "cron": "61 * * * *"}, format="json"), 400
    )
    assert "cron" in err["fields"] and "cron" in err["message"]
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "body", [[1, 2], "text", {"name": "x y"}, {"name": "ok", "unknown_field": 1}]
)
def test_malformed_bodies_are_400_not_500(admin_client, body):
    assert_error(admin_client.post("/api/v1/jobs/", body, format="json"), 400)


def test_invalid_json_is_a_parse_error(admin_client):
    response = admin_client.post("/api/v1/jobs/", "{nope", content_type="application/json")
    assert_error(response, 400, "parse_error")


def test_process_jobs_need_their_own_permission(admin_client):
    spec = {"name": "shell", "kind": "process", "config": {"command": ["/bin/true"]}}
    assert_error(admin_client.post("/api/v1/jobs/", spec, format="json"), 403)


def test_patch_changes_fields_and_audits_before_and_after(admin_client, job):
    response = admin_client.patch(
        "/api/v1/jobs/nightly-report/", {"cron": "0 4 * * *", "reason": "later"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["cron"] == "0 4 * * *"
    event = audit("job.update")
    assert event.changes["cron"] == ["0 2 * * *", "0 4 * * *"] and event.reason == "later"


def test_patch_unknown_job_is_404(admin_client):
    assert_error(
        admin_client.patch("/api/v1/jobs/ghost/", {"cron": "0 4 * * *"}, format="json"),
        404,
        "not_found",
    )


def test_operator_and_viewer_cannot_edit_or_delete(operator_client, viewer_client, job):
    for client in (operator_client, viewer_client):
        assert_error(
            client.patch("/api/v1/jobs/nightly-report/", {"cron": "0 4 * * *"}, format="json"), 403
        )
        assert_error(client.delete("/api/v1/jobs/nightly-report/"), 403)
    assert Job.objects.filter(name="nightly-report").exists()


def test_owner_may_edit_and_operate_their_job_but_not_delete_it(job):
    owner = user_with_role("viewer", "owen")
    Job.objects.filter(pk=job.pk).update(owner=owner)
    client = _client(owner)
    assert (
        client.patch(
            "/api/v1/jobs/nightly-report/", {"description": "mine"}, format="json"
        ).status_code
        == 200
    )
    assert client.post("/api/v1/jobs/nightly-report/trigger/", {}, format="json").status_code == 202
    assert_error(client.delete("/api/v1/jobs/nightly-report/"), 403)
    other = recurring_job(name="not-mine")
    assert_error(client.post(f"/api/v1/jobs/{other.name}/trigger/", {}, format="json"), 403)


def test_admin_deletes_a_job(admin_client, job):
    assert admin_client.delete("/api/v1/jobs/nightly-report/?reason=obsolete").status_code == 204
    assert not Job.objects.filter(name="nightly-report").exists()
    assert audit("job.delete").reason == "obsolete"


def test_operator_disables_and_enables_with_reason(operator_client, job):
    response = operator_client.post(
        "/api/v1/jobs/nightly-report/disable/", {"reason": "maintenance"}, format="json"
    )
    assert response.status_code == 200 and response.json()["enabled"] is False
    assert response.json()["disabled_reason"] == "maintenance"
    assert audit("job.disable").reason == "maintenance"
    assert (
        operator_client.post("/api/v1/jobs/nightly-report/enable/", {}, format="json").json()[
            "enabled"
        ]
        is True
    )
    assert audit("job.enable").actor == "oscar"


def test_trigger_returns_202_with_the_queued_run(operator_client, job):
    Job.objects.filter(pk=job.pk).update(parameters={"day": "today"})  # overridable by default
    response = operator_client.post(
        "/api/v1/jobs/nightly-report/trigger/",
        {"parameters": {"day": "2025-01-01"}, "reason": "rerun"},
        format="json",
    )
    assert response.status_code == 202, response.content
    run = response.json()
    assert (run["status"], run["trigger"], run["triggered_by"], run["job"]) == (
        "queued",
        "api",
        "oscar",
        "nightly-report",
    )
    assert run["parameters"]["day"] == "2025-01-01"
    event = AuditEvent.objects.get(action="run.trigger", target=run["id"])
    assert event.client_ip == "203.0.113.7" and event.reason == "rerun"


def test_trigger_of_a_disabled_job_is_409_unless_forced(operator_client, job):
    Job.objects.filter(pk=job.pk).update(enabled=False, disabled_reason="paused")
    assert_error(
        operator_client.post("/api/v1/jobs/nightly-report/trigger/", {}, format="json"), 409
    )
    forced = operator_client.post(
        "/api/v1/jobs/nightly-report/trigger/", {"force": True}, format="json"
    )
    assert forced.status_code == 202 and forced.json()["trigger"] == "forced"


def test_trigger_with_the_broker_down_is_503_naming_it_and_saves_nothing(
    operator_client, job, settings
):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    settings.CELERY_BROKER_URL = f"redis://:pw-secret@127.0.0.1:{port}/0"
    response = operator_client.post("/api/v1/jobs/nightly-report/trigger/", {}, format="json")
    error = assert_error(response, 503, "broker_unavailable")
    assert f"redis://:**@127.0.0.1:{port}/0" in error["message"]
    assert "pw-secret" not in response.content.decode()
    assert not JobRun.objects.exists()
    assert not AuditEvent.objects.filter(action="run.trigger").exists()


@pytest.mark.parametrize(
    "body", [{"parameters": [1]}, {"force": "perhaps"}, {"reason": 5 * "x" * 1000}]
)
def test_trigger_rejects_bad_bodies(operator_client, job, body):
    err = assert_error(
        operator_client.post("/api/v1/jobs/nightly-report/trigger/", body, format="json"),
        400,
        "invalid",
    )
    assert err["fields"]
    assert not JobRun.objects.exists()


def test_trigger_unknown_job_is_404(operator_client):
    assert_error(
        operator_client.post("/api/v1/jobs/ghost/trigger/", {}, format="json"), 404, "not_found"
    )


def test_retry_reruns_the_last_failure_or_409(operator_client, job):
    assert_error(
        operator_client.post("/api/v1/jobs/nightly-report/retry/", {}, format="json"),
        409,
        "no_failed_run",
    )
    failed = add_runs(job, [{"at": datetime.now(UTC), "status": "failed", "duration": 1}])[0]
    JobRun.objects.filter(pk=failed.pk).update(
        parameters={"x": 1, "today": "2020-01-01"}, metadata={"overrides": {"x": 1}}
    )
    response = operator_client.post(
        "/api/v1/jobs/nightly-report/retry/", {"reason": "dns"}, format="json"
    )
    assert response.status_code == 202
    assert response.json()["parameters"] == {"x": 1}


def test_reset_health(operator_client, viewer_client, job):
    set_live_state(
        job,
        add_runs(
            job,
            [
                {
                    "at": datetime.now(UTC) - timedelta(minutes=i + 1),
                    "status": "failed",
                    "duration": 1,
                }
                for i in range(5)
            ],
        ),
    )
    health_refresh()
    assert viewer_client.get("/api/v1/jobs/nightly-report/").json()["health"] == "critical"
    assert_error(
        viewer_client.post("/api/v1/jobs/nightly-report/reset-health/", {}, format="json"), 403
    )
    response = operator_client.post(
        "/api/v1/jobs/nightly-report/reset-health/", {"reason": "fixed"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["level"] != "critical"
    assert audit("health.reset").client_ip == "203.0.113.7"
