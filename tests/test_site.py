"""Site-wide doors that belong to no app: `/`, unknown routes, and
`manage.py` against a database that is not there."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from django.conf import settings

from tests.api.conftest import assert_error
from tests.conftest import ROOT, _process_env

pytestmark = pytest.mark.django_db


def test_the_root_redirects_to_the_admin(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/admin/"


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing/", "/api/v1/jobs/x/y/z/", "/api/v2/"])
def test_an_unknown_api_route_is_a_404_in_the_api_error_shape(client, path):
    response = client.get(path)
    assert response["Content-Type"] == "application/json"
    error = assert_error(response, 404, "not_found")
    assert path in error["message"]


def test_an_unknown_page_outside_the_api_stays_html_and_a_missing_slash_still_redirects(client):
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
    assert client.get("/api/v1/jobs").status_code == 301  # APPEND_SLASH still applies


@pytest.mark.parametrize("command", [["jobs", "list"], ["migrate"]])
def test_a_missing_postgresql_database_is_one_line_saying_how_to_create_it(command):
    db = settings.DATABASES["default"]
    name = f"jw_missing_{uuid.uuid4().hex[:8]}"
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    url = f"postgres://{db['USER'] or 'postgres'}@{host}:{port}/{name}"
    result = subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=_process_env({"DATABASE_URL": url}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"database '{name}' does not exist on the PostgreSQL server at {host}:{port} "
        f"(DATABASE_URL); create it with: createdb -h {host} -p {port} "
        f"-U {db['USER'] or 'postgres'} {name}"
    ]
