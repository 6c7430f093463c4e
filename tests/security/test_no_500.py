"""Issue 12 item 11: each input that once gave a 500 now gets a one-line 4xx
through the REST API, and nothing is saved."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from jobs.models import Job
from tests.api.conftest import assert_error
from tests.monitoring.history import add_runs, recurring_job

pytestmark = pytest.mark.django_db

PYTHON = {"name": "probe", "kind": "python", "target": "tests.jobs.sample_jobs:succeed"}
URL = "https://example.com/status"


def _http(**config) -> dict:
    return {"name": "probe", "kind": "http", "config": {"url": URL, **config}}


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(
            json.dumps(PYTHON)[:-1] + ', "parameters": ' + _nested(50_000) + "}",
            None,
            id="parameters-nested-50000-deep",
        ),
        pytest.param(
            json.dumps(PYTHON)[:-1] + ', "description": "\\ud800"}',
            "description",
            id="lone-surrogate-in-description",
        ),
        pytest.param(
            json.dumps(PYTHON)[:-1] + ', "parameters": {"k": "\\udfff"}}',
            "parameters",
            id="lone-surrogate-in-parameters",
        ),
        pytest.param(json.dumps({**PYTHON, "cron": "0 0 30 2 *"}), "cron", id="cron-feb-30"),
        pytest.param(
            json.dumps({**PYTHON, "cron": "0 0 31 2,4,6,9,11 *"}), "cron", id="cron-31st-of-short"
        ),
        pytest.param(
            json.dumps({**PYTHON, "run_at": "9999-12-31T23:59:59-12:00"}), "run_at", id="run-at-max"
        ),
        pytest.param(
            json.dumps({**PYTHON, "run_at": "0001-01-01T00:00:00+14:00"}), "run_at", id="run-at-min"
        ),
        pytest.param(
            json.dumps(_http(auth={"type": ["bearer"]})), "config.auth.type", id="auth-type-list"
        ),
        pytest.param(
            json.dumps({"name": "probe", "kind": "http", "config": {"url": "http://[::1/"}}),
            "config.url",
            id="url-unclosed-ipv6",
        ),
        pytest.param(
            json.dumps(_http(expect_regex="a{99999999999999999999}")),
            "config.expect_regex",
            id="regex-huge-repeat",
        ),
        pytest.param(
            json.dumps(_http(expect_regex="(" * 1000 + ")" * 1000)),
            "config.expect_regex",
            id="regex-1000-nested-groups",
        ),
        pytest.param(
            json.dumps({**PYTHON, "retry_delay": 10**400}), "retry_delay", id="int-beyond-float"
        ),
    ],
)
def test_a_job_with_input_that_once_crashed_the_api_is_refused(admin_client, body, field):
    response = admin_client.post("/api/v1/jobs/", data=body, content_type="application/json")
    error = assert_error(response, 400)
    assert "\n" not in error["message"]
    if field:
        assert field in error["fields"], error
    assert not Job.objects.filter(name="probe").exists()


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/jobs/nightly-report/stats/?from=0001-01-01&to=9999-12-31",
        "/api/v1/runs/?to=9999-12-31",
        "/api/v1/runs/?from=9999-12-31T23:59:59-12:00",
        "/api/v1/jobs/nightly-report/runs/?to=9999-12-31",
        "/api/v1/audit/?to=9999-12-31",
    ],
)
def test_a_query_window_out_of_range_is_a_400(viewer_client, job, url):
    error = assert_error(viewer_client.get(url), 400)
    assert "out of range" in error["message"]


@pytest.mark.parametrize("cursor", ["cD0lMDA=", "cD05OTk5LTEyLTMxVDIzOjU5OjU5LTEyOjAw"])
def test_a_forged_run_cursor_is_a_404(viewer_client, job, cursor):
    # "p=%00" (a NUL position), "p=9999-12-31T23:59:59-12:00" (out of range)
    assert_error(viewer_client.get(f"/api/v1/runs/?cursor={cursor}"), 404)


def test_a_run_cursor_from_a_real_page_still_works(viewer_client, job):
    other = recurring_job(name="other-job")
    now = datetime.now(UTC)
    add_runs(other, [{"at": now - timedelta(minutes=i), "duration": 1} for i in range(3)])
    first = viewer_client.get("/api/v1/runs/?page_size=2").json()
    second = viewer_client.get(first["next"])
    assert second.status_code == 200 and len(second.json()["results"]) == 1


def test_a_request_body_over_the_upload_limit_is_a_413(admin_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({**PYTHON, "description": "x" * 20_000})
    response = admin_client.post("/api/v1/jobs/", data=body, content_type="application/json")
    assert_error(response, 413, "too_large")
    assert not Job.objects.filter(name="probe").exists()
