"""Issue 12 item 14: production settings pass `check --deploy`, refuse the
development secret key, read the proxy settings from the environment; the
API docs load nothing from another host; `make web` listens on loopback."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = secrets.token_urlsafe(50)


def production(*args: str, code: str | None = None, **env: str) -> subprocess.CompletedProcess:
    """manage.py (or `python -c code`) in a fresh process with production settings."""
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_", "TRUSTED"))
    }
    base.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DATABASE_URL="sqlite:////tmp/jobwarden-deploy-check.sqlite3",  # never opened
        REDIS_URL="redis://127.0.0.1:6379/5",
        DJANGO_SECRET_KEY=STRONG_KEY,
        DJANGO_ALLOWED_HOSTS="jobs.example.com",
        LOG_LEVEL="WARNING",
    )
    base.update(env)
    cmd = [sys.executable, "-c", code] if code else [sys.executable, "manage.py", *args]
    return subprocess.run(cmd, cwd=ROOT, env=base, capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean():
    result = production("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


@pytest.mark.parametrize("key", ["dev-insecure-key-change-me", "", "django-insecure-" + "x" * 60])
def test_the_development_or_an_empty_secret_key_is_refused_in_one_line(key):
    result = production("check", DJANGO_SECRET_KEY=key)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "DJANGO_SECRET_KEY" in lines[0] and "Traceback" not in result.stderr


def test_a_short_secret_key_is_refused():
    result = production("check", DJANGO_SECRET_KEY="short-but-not-the-default")
    assert result.returncode != 0 and "at least 50" in result.stderr


def test_a_missing_secret_key_is_refused():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DATABASE_URL="sqlite:////tmp/x.sqlite3",
        REDIS_URL="redis://127.0.0.1:6379/5",
        DJANGO_ALLOWED_HOSTS="jobs.example.com",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr


SHOW = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({k: getattr(s, k) for k in ["
    "'DEBUG', 'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', "
    "'SECURE_PROXY_SSL_HEADER', 'TRUSTED_PROXIES', 'SESSION_COOKIE_SECURE', "
    "'CSRF_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY']}))"
)


def test_https_defaults_and_the_proxy_settings_come_from_the_environment():
    defaults = json.loads(production(code=SHOW, DJANGO_DEBUG="true").stdout)
    assert defaults == {
        "DEBUG": False,  # never, whatever DJANGO_DEBUG says
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_PROXY_SSL_HEADER": None,  # X-Forwarded-Proto is not trusted by default
        "TRUSTED_PROXIES": [],
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
    }
    behind_proxy = production(
        code=SHOW,
        DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
        TRUSTED_PROXIES="10.0.0.0/8, 192.168.1.7",
    )
    configured = json.loads(behind_proxy.stdout)
    assert configured["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert configured["TRUSTED_PROXIES"] == ["10.0.0.0/8", "192.168.1.7/32"]


def test_a_malformed_trusted_proxy_is_refused_at_start_up():
    result = production("check", TRUSTED_PROXIES="10.0.0.0/8, proxy.local")
    assert result.returncode != 0 and "TRUSTED_PROXIES" in result.stderr


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


@pytest.mark.django_db
def test_the_api_docs_page_loads_nothing_from_another_host(client):
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    parser = _Refs()
    parser.feed(html)
    assert parser.refs, "the page references its scripts and styles"
    for ref in parser.refs:
        assert ref.startswith("/") and not ref.startswith("//"), ref
        # ...and each is a vendored static file that exists.
        assert finders.find(ref.removeprefix("/static/")), ref
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.I)


@pytest.mark.parametrize(
    ("env", "address"),
    [({}, "127.0.0.1:8000"), ({"HOST": "0.0.0.0", "PORT": "9000"}, "0.0.0.0:9000")],
)
def test_make_web_binds_loopback_unless_told_otherwise(env, address):
    clean = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT")}
    result = subprocess.run(
        ["make", "-n", "web"], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert f"runserver {address}" in result.stdout
