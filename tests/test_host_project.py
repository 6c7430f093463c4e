"""docs/integrating.md, made true: a minimal Django project of its own (its
settings, urls, Celery app and an app with a code job) around the installed
package, migrated on a fresh PostgreSQL database, runs its job through a
real worker of its own Celery app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis
from django.conf import settings

from tests.conftest import CELERY, Proc

pytestmark = pytest.mark.worker

FILES = {
    "manage.py": """
        import os, sys
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
        from django.core.management import execute_from_command_line
        execute_from_command_line(sys.argv)
    """,
    "mysite/__init__.py": "",
    "mysite/settings.py": """
        import dj_database_url, os
        from config.settings.jobwarden import *  # noqa: F401,F403

        SECRET_KEY = "host-project-test-key"
        DEBUG = False
        ALLOWED_HOSTS = ["testserver"]
        INSTALLED_APPS = [
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.staticfiles",
            *JOBWARDEN_APPS,
            "shop",
        ]
        MIDDLEWARE = [
            "django.middleware.security.SecurityMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            *JOBWARDEN_MIDDLEWARE,
        ]
        AUTHENTICATION_BACKENDS = JOBWARDEN_AUTHENTICATION_BACKENDS
        ROOT_URLCONF = "mysite.urls"
        TEMPLATES = [{
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {"context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]},
        }]
        DATABASES = {"default": dj_database_url.parse(os.environ["HOST_DATABASE_URL"])}
        DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
        STATIC_URL = "static/"
        USE_TZ = True
    """,
    "mysite/urls.py": """
        from django.contrib import admin
        from django.urls import include, path

        urlpatterns = [
            path("admin/", admin.site.urls),
            path("api/v1/", include("config.api_urls")),
        ]
    """,
    "mysite/celery.py": """
        import os

        from celery import Celery

        from jobs.worker_steps import TimerCompaction

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
        app = Celery("mysite")
        app.config_from_object("django.conf:settings", namespace="CELERY")
        app.autodiscover_tasks()
        app.steps["worker"].add(TimerCompaction)
    """,
    "shop/__init__.py": "",
    "shop/jobs.py": '''
        from jobs.definitions import job

        @job(cron="0 2 * * *", timezone="Europe/Prague", timeout="30m")
        def nightly_totals(ctx):
            """Add up yesterday's orders."""
            ctx.progress(50, "half way")
            return {"orders": 42}
    ''',
}


def _host_redis_url() -> str:
    # A Redis database of its own: the host's run ids start at 1 again, and
    # must not meet the suite's claims in the journal.
    parts = urlsplit(settings.REDIS_URL)
    db = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{14 if db == 15 else 15}"))


@pytest.fixture
def host_project(tmp_path) -> dict:
    for name, text in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    db = settings.DATABASES["default"]
    dbname = f"jw_host_{os.getpid()}"
    admin = f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER'] or 'postgres'} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
        conn.execute(f'CREATE DATABASE "{dbname}"')
    redis_url = _host_redis_url()
    redis.Redis.from_url(redis_url).flushdb()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "PYTEST_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "mysite.settings",
            "HOST_DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{dbname}",
            "REDIS_URL": redis_url,
            "JOBS_SECRET_KEYS": settings.JOBS_SECRET_KEYS[0],
            "PYTHONUNBUFFERED": "1",
        }
    )
    yield {"dir": tmp_path, "env": env}
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def manage(project: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=project["dir"],
        env=project["env"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def test_a_host_project_migrates_finds_its_code_job_and_runs_it_through_its_own_worker(
    host_project,
):
    manage(host_project, "check")
    manage(host_project, "migrate", "-v0")
    manage(host_project, "jobs", "sync")
    listed = json.loads(manage(host_project, "jobs", "list", "--json").stdout)
    assert "nightly-totals" in [job["name"] for job in listed]

    log = Path(host_project["dir"]) / "worker.log"
    worker = Proc(
        [CELERY, "-A", "mysite", "worker", "-l", "INFO", "-Q", "celery,jobs", "-c", "1"],
        log,
        host_project["env"],
        cwd=host_project["dir"],
    )
    try:
        worker.wait_for("ready.")
        run = manage(host_project, "jobs", "run", "nightly-totals", "--wait", "--json", timeout=90)
    finally:
        worker.stop()

    outcome = json.loads(run.stdout)
    assert outcome["status"] == "succeeded", outcome
    assert outcome["result"] == {"orders": 42}
