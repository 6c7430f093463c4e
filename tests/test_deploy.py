"""The production shape: docker-compose.yml is valid and refuses to start
without a secret key, every service has a healthcheck, the image is
multi-stage, non-root, runtime-only and has the ODBC drivers, the build
context leaves local state out; /healthz and static files are served by the
app itself. No Docker engine runs here: `docker-compose config` (Debian's
package, installed by `make test` as root) validates the file without one."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest
import yaml
from django.db import connection
from django.test import Client

from tests.conftest import ROOT

COMPOSE = shutil.which("docker-compose")
needs_compose = pytest.mark.skipif(
    COMPOSE is None, reason="docker-compose missing: apt-get install docker-compose"
)
SERVICES = {"postgres", "redis", "web", "worker", "beat", "flower"}


def _compose(*args: str, secret: str | None = "x" * 50) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    if secret is not None:
        env["DJANGO_SECRET_KEY"] = secret
    return subprocess.run(
        [COMPOSE or "docker-compose", "-f", str(ROOT / "docker-compose.yml"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@needs_compose
def test_compose_file_is_valid():
    result = _compose("config", "-q")
    assert result.returncode == 0, result.stderr


@needs_compose
@pytest.mark.parametrize("secret", [None, ""])
def test_compose_refuses_to_start_without_a_secret_key(secret):
    result = _compose("config", "-q", secret=secret)
    assert result.returncode != 0
    assert "set DJANGO_SECRET_KEY" in result.stderr


def _services() -> dict:
    if COMPOSE:  # the file as compose resolves it (anchors, merges, $$)
        return yaml.safe_load(_compose("config").stdout)["services"]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_every_service_has_a_healthcheck_and_the_app_is_built_from_the_dockerfile():
    services = _services()
    assert set(services) == SERVICES
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    checks = {name: json.dumps(s["healthcheck"]["test"]) for name, s in services.items()}
    assert "http://127.0.0.1:8000/healthz" in checks["web"]
    assert re.search(r"celery -A config inspect ping .*-d celery@\$+HOSTNAME", checks["worker"])
    assert "/tmp/celerybeat.pid" in checks["beat"] and "--pidfile" in services["beat"]["command"]
    for name in ("web", "worker", "beat", "flower"):
        build = services[name]["build"]
        assert build in (".", str(ROOT)) or build.get("dockerfile", "Dockerfile") == "Dockerfile"


def _stages() -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    return re.split(r"^FROM ", text, flags=re.M)[1:]


def test_image_is_multi_stage_runtime_only_non_root_with_the_odbc_drivers():
    stages = _stages()
    assert len(stages) >= 2
    final = stages[-1]
    assert re.search(r"^USER (?!root\b|0\b)\S+", final, flags=re.M), "the final stage runs as root"
    for package in ("unixodbc", "odbc-postgresql", "odbc-mariadb"):
        assert package in final
    text = "".join(stages)
    assert "requirements.lock" in text
    assert "requirements-dev.lock" not in text and "[dev]" not in text
    assert "collectstatic" in text


def test_build_context_leaves_local_state_and_secrets_out():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    for entry in (".git", ".venv", "var", ".env"):
        assert entry in ignored
    assert "db.sqlite3*" in ignored or "db.sqlite3" in ignored


# --- what the image serves ---------------------------------------------------


@pytest.mark.django_db
def test_healthz_answers_ok_whatever_the_host_name():
    # A probe inside the container calls 127.0.0.1, which the operator's
    # DJANGO_ALLOWED_HOSTS need not list.
    response = Client(HTTP_HOST="10.1.2.3:8000").get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db(transaction=True)
def test_healthz_is_503_when_the_database_does_not_answer():
    saved = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = "1"  # nothing listens there
    try:
        response = Client().get("/healthz")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = saved
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_admin_static_files_are_served_by_the_app():
    response = Client().get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    response.close()


def test_production_serves_collected_hashed_and_compressed_static_files(tmp_path):
    # What the image's build does, then a request as gunicorn would get it.
    script = f"""
        import os
        os.environ.update(
            DJANGO_SETTINGS_MODULE="config.settings.production",
            DJANGO_SECRET_KEY="collectstatic-test-key-0123456789-abcdefghij-ABCDEFGHIJ",
            DJANGO_ALLOWED_HOSTS="testserver",
            DATABASE_URL="sqlite:///{tmp_path}/unused.sqlite3",
            REDIS_URL="redis://unused:6379/0",
        )
        import django
        django.setup()
        from django.test.utils import override_settings
        with override_settings(STATIC_ROOT="{tmp_path}/static"):
            from django.core.management import call_command
            from django.contrib.staticfiles.storage import staticfiles_storage
            from django.test import Client
            call_command("collectstatic", "--noinput", verbosity=0)
            url = staticfiles_storage.url("admin/css/base.css")
            response = Client(HTTP_ACCEPT_ENCODING="gzip").get(url, secure=True)
            print(url, response.status_code, response.get("Content-Encoding"))
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    url, status, encoding = result.stdout.split()
    assert re.fullmatch(r"/static/admin/css/base\.[0-9a-f]{12}\.css", url)
    assert (status, encoding) == ("200", "gzip")
