"""/runs/, /stats/, /health/, /status/, /schedule/, /audit/, cleanup, and the schema."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from jobs.models import AuditEvent, JobRun
from monitoring.services import health_refresh
from tests.api.conftest import assert_error
from tests.monitoring.history import add_runs, recurring_job, set_live_state

pytestmark = pytest.mark.django_db
NOW = datetime.now(UTC)


def test_job_runs_are_cursor_paginated_newest_first(viewer_client, job):
    add_runs(job, [{"at": NOW - timedelta(minutes=i), "duration": 1} for i in range(7)])
    page = viewer_client.get("/api/v1/jobs/nightly-report/runs/?page_size=5").json()
    assert len(page["results"]) == 5 and page["next"]
    assert "output" not in page["results"][0] and "traceback" not in page["results"][0]
    rest = viewer_client.get(page["next"]).json()
    assert len(rest["results"]) == 2 and rest["next"] is None
    times = [r["queued_at"] for r in page["results"] + rest["results"]]
    assert times == sorted(times, reverse=True)


def test_run_filters(viewer_client, job):
    other = recurring_job(name="other", cron="", schedule_type="manual")
    add_runs(
        job,
        [
            {"at": NOW - timedelta(days=3), "status": "failed", "duration": 1},
            {"at": NOW, "duration": 1, "trigger": "api"},
        ],
    )
    add_runs(other, [{"at": NOW, "status": "failed", "duration": 1}])

    def statuses(url):
        response = viewer_client.get(url)
        assert response.status_code == 200, response.content
        return sorted(r["status"] + ":" + r["job"] for r in response.json()["results"])

    assert statuses("/api/v1/jobs/nightly-report/runs/?status=failed") == ["failed:nightly-report"]
    assert statuses("/api/v1/jobs/nightly-report/runs/?trigger=api") == ["succeeded:nightly-report"]
    day = (NOW - timedelta(days=3)).date().isoformat()
    assert statuses(f"/api/v1/jobs/nightly-report/runs/?from={day}&to={day}") == [
        "failed:nightly-report"
    ]
    assert statuses("/api/v1/runs/?status=failed") == ["failed:nightly-report", "failed:other"]
    assert statuses("/api/v1/runs/?job=other") == ["failed:other"]
    assert_error(viewer_client.get("/api/v1/runs/?status=exploded"), 400, "invalid")
    assert_error(viewer_client.get("/api/v1/runs/?from=soon"), 400, "invalid")
    assert_error(viewer_client.get("/api/v1/jobs/ghost/runs/"), 404, "not_found")


def test_run_detail_has_everything(viewer_client, job):
    run = add_runs(job, [{"at": NOW, "status": "failed", "duration": 2, "error": "boom"}])[0]
    JobRun.objects.filter(pk=run.pk).update(traceback="Traceback ...", output="hello")
    body = viewer_client.get(f"/api/v1/runs/{run.pk}/").json()
    assert (body["id"], body["status"], body["error"], body["traceback"], body["output"]) == (
        str(run.pk),
        "failed",
        "boom",
        "Traceback ...",
        "hello",
    )
    assert body["duration_ms"] == 2000 and body["queued_at"].endswith("+00:00")
    assert_error(viewer_client.get(f"/api/v1/runs/{uuid.uuid4()}/"), 404, "not_found")
    assert viewer_client.get("/api/v1/runs/not-a-uuid/").status_code == 404


def test_cancel_a_queued_run_and_conflict_on_a_finished_one(operator_client, viewer_client, job):
    queued, done = add_runs(
        job, [{"at": NOW, "status": "queued"}, {"at": NOW - timedelta(hours=1), "duration": 1}]
    )
    assert_error(viewer_client.post(f"/api/v1/runs/{queued.pk}/cancel/", {}, format="json"), 403)
    response = operator_client.post(
        f"/api/v1/runs/{queued.pk}/cancel/", {"reason": "wrong day"}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    event = AuditEvent.objects.get(action="run.cancel")
    assert (event.target, event.reason, event.client_ip) == (
        str(queued.pk),
        "wrong day",
        "203.0.113.7",
    )
    assert_error(operator_client.post(f"/api/v1/runs/{done.pk}/cancel/", {}, format="json"), 409)
    assert_error(
        operator_client.post(f"/api/v1/runs/{uuid.uuid4()}/cancel/", {}, format="json"), 404
    )


def test_stats_endpoint(viewer_client, job):
    add_runs(job, [{"at": NOW - timedelta(hours=i + 1), "duration": 1 + i} for i in range(5)])
    body = viewer_client.get("/api/v1/jobs/nightly-report/stats/").json()
    assert body["job"] == "nightly-report" and body["total"] == 5 and body["success_rate"] == 100.0
    assert set(body["duration_ms"]) == {"min", "avg", "median", "p95", "max"}
    assert {
        "from",
        "to",
        "availability",
        "recent_runs",
        "common_errors",
        "daily",
        "longest_downtime_seconds",
    } <= set(body)
    err = assert_error(
        viewer_client.get("/api/v1/jobs/nightly-report/stats/?from=2025-02-30"), 400, "invalid"
    )
    assert "from" in err["fields"]
    assert_error(viewer_client.get("/api/v1/jobs/ghost/stats/"), 404)


def test_health_endpoints_worst_first(viewer_client, job):
    bad = recurring_job(name="bad", cron="", schedule_type="manual")
    set_live_state(
        bad,
        add_runs(
            bad,
            [
                {"at": NOW - timedelta(minutes=i + 1), "status": "failed", "duration": 1}
                for i in range(3)
            ],
        ),
    )
    health_refresh()
    items = viewer_client.get("/api/v1/health/").json()
    assert [(i["job"], i["level"]) for i in items] == [
        ("bad", "warning"),
        ("nightly-report", "unknown"),
    ]
    assert [i["job"] for i in viewer_client.get("/api/v1/health/?level=warning").json()] == ["bad"]
    assert_error(viewer_client.get("/api/v1/health/?level=meh"), 400)
    one = viewer_client.get("/api/v1/jobs/bad/health/").json()
    assert one["issues"][0]["type"] == "consecutive_failures"
    assert one["recent_changes"][0]["current"] == "warning"
    assert_error(viewer_client.get("/api/v1/jobs/ghost/health/"), 404)


def test_status_endpoint(viewer_client, job, settings):
    settings.MONITORING_WORKER_PING_TIMEOUT = 0.1
    body = viewer_client.get("/api/v1/status/").json()
    assert body["jobs"]["total"] == 1
    assert {"runs", "workers", "last_24h", "problematic_jobs", "active_alerts"} <= set(body)
    assert body["workers"]["count"] == 0  # no worker in this test


def test_schedule_endpoint(viewer_client, job):
    body = viewer_client.get("/api/v1/jobs/nightly-report/schedule/?count=3").json()
    assert body["count"] == 3 and body["timezone"] == "Europe/Prague"
    assert body["fires"][0]["at"].endswith(("+01:00", "+02:00"))
    assert_error(viewer_client.get("/api/v1/jobs/nightly-report/schedule/?count=9999"), 400)


def test_audit_endpoint_filters(viewer_client, operator_client, job):
    operator_client.post("/api/v1/jobs/nightly-report/disable/", {"reason": "a"}, format="json")
    operator_client.post("/api/v1/jobs/nightly-report/enable/", {}, format="json")
    call_command("jobs", "cleanup", "--older-than", "30")

    def actions(query=""):
        return [e["action"] for e in viewer_client.get(f"/api/v1/audit/{query}").json()["results"]]

    assert actions() == ["runs.cleanup", "job.enable", "job.disable"]
    assert actions("?actor=oscar") == ["job.enable", "job.disable"]
    assert actions("?action=job.disable") == ["job.disable"]
    assert actions("?action=job.") == ["job.enable", "job.disable"]
    assert actions("?job=nightly-report") == ["job.enable", "job.disable"]
    assert actions(f"?date={NOW.date().isoformat()}") == [
        "runs.cleanup",
        "job.enable",
        "job.disable",
    ]
    assert actions("?date=2001-01-01") == []
    event = viewer_client.get("/api/v1/audit/?action=job.disable").json()["results"][0]
    assert (
        event["client_ip"] == "203.0.113.7"
        and event["source"] == "api"
        and event["changes"]["enabled"] == [True, False]
    )
    assert_error(viewer_client.get("/api/v1/audit/?date=yesterday"), 400)


def test_audit_records_cannot_be_changed_through_the_api(admin_client, job):
    admin_client.post("/api/v1/jobs/nightly-report/disable/", {}, format="json")
    assert admin_client.delete("/api/v1/audit/").status_code == 405
    assert admin_client.post("/api/v1/audit/", {}, format="json").status_code == 405
    assert AuditEvent.objects.count() == 1


def test_cleanup_endpoint_is_for_admins(admin_client, operator_client, job):
    add_runs(job, [{"at": NOW - timedelta(days=100), "duration": 1}, {"at": NOW, "duration": 1}])
    assert_error(
        operator_client.post("/api/v1/runs/cleanup/", {"older_than_days": 90}, format="json"), 403
    )
    for bad in (0, 10**9):  # found by schemathesis: a huge age was a 500
        assert_error(
            admin_client.post("/api/v1/runs/cleanup/", {"older_than_days": bad}, format="json"),
            400,
        )
    response = admin_client.post("/api/v1/runs/cleanup/", {"older_than_days": 90}, format="json")
    assert response.json() == {"deleted": 1, "older_than_days": 90}
    assert AuditEvent.objects.get(action="runs.cleanup").client_ip == "203.0.113.7"


def test_schema_is_valid_openapi_and_documents_errors():
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    paths = schema["paths"]
    for path in [
        "/api/v1/jobs/",
        "/api/v1/jobs/{name}/trigger/",
        "/api/v1/runs/{run_id}/cancel/",
        "/api/v1/jobs/{name}/stats/",
        "/api/v1/status/",
        "/api/v1/audit/",
        "/api/v1/health/",
    ]:
        assert path in paths, path
    trigger = paths["/api/v1/jobs/{name}/trigger/"]["post"]["responses"]
    assert {"202", "400", "401", "403", "404", "409"} <= set(trigger)
    assert trigger["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


def test_unknown_methods_use_the_error_shape(viewer_client, job):
    assert_error(
        viewer_client.put("/api/v1/jobs/nightly-report/trigger/", {}, format="json"),
        405,
        "method_not_allowed",
    )
