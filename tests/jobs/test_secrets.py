"""Secrets in job configs: encrypted at rest, masked on every read, kept on a
masked update, rotatable, and refused without a key."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet
from django.core import checks
from django.db import connection
from django.test import override_settings

from jobs.errors import ValidationError
from jobs.models import Job
from jobs.secrets import (
    MASK,
    SecretsUnavailable,
    masked_config,
    open_config,
    seal_config,
    secret_paths,
    secrets_rotate,
)

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
HTTP_CONFIG = {
    "url": "https://api.example.com/v1/sync",
    "auth": {"type": "bearer", "token": "bearer-token-123"},
    "headers": {
        "X-Api-Key": "api-key-456",
        "X-Trace": "visible",
        "X-Custom": {"value": "custom-789", "secret": True},
    },
    "secret_parameters": {"ClientSecret": "client-secret-000"},
}
CLEAR = ["bearer-token-123", "api-key-456", "custom-789", "client-secret-000"]


def test_secret_fields_are_found_per_kind():
    assert set(secret_paths("http", HTTP_CONFIG)) == {
        ("auth", "token"),
        ("headers", "X-Api-Key"),
        ("headers", "X-Custom", "value"),
        ("secret_parameters", "ClientSecret"),
    }
    assert secret_paths("sql", {"connection": "DSN=x", "procedure": "p"}) == [("connection",)]
    assert secret_paths("process", {"env": {"DB_PASSWORD": "x", "MODE": "y"}}) == [
        ("env", "DB_PASSWORD")
    ]


def test_sealing_masks_the_config_and_opening_restores_it():
    public, sealed = seal_config("http", HTTP_CONFIG)
    assert public["auth"]["token"] == MASK and public["headers"]["X-Api-Key"] == MASK
    assert public["headers"]["X-Custom"] == {"value": MASK, "secret": True}
    assert public["headers"]["X-Trace"] == "visible"
    for secret in CLEAR:
        assert secret not in json.dumps(public) and secret not in sealed
    job = Job(name="j", kind="http", config=public, secrets=sealed)
    assert open_config(job) == HTTP_CONFIG
    assert masked_config(job) == public


def test_a_masked_value_on_update_keeps_the_stored_secret_and_a_new_value_replaces_it():
    public, sealed = seal_config("http", HTTP_CONFIG)
    edited = json.loads(json.dumps(public))
    edited["url"] = "https://api.example.com/v2/sync"
    edited["headers"]["X-Api-Key"] = "rotated-key-999"
    public2, sealed2 = seal_config("http", edited, sealed)
    opened = open_config(Job(name="j", kind="http", config=public2, secrets=sealed2))
    assert opened["auth"]["token"] == "bearer-token-123"
    assert opened["headers"]["X-Api-Key"] == "rotated-key-999"
    assert opened["url"].endswith("/v2/sync")


def test_a_masked_value_without_a_stored_secret_is_refused():
    with pytest.raises(
        ValidationError, match=r"config.auth.token: the value is masked but no secret is stored"
    ):
        seal_config("http", {"url": "https://x", "auth": {"type": "bearer", "token": MASK}})


def test_masked_config_masks_even_a_config_that_was_never_sealed():
    job = Job(name="j", kind="sql", config={"connection": "DRIVER=x;PWD=plain", "procedure": "p"})
    assert masked_config(job)["connection"] == MASK


def test_without_keys_secrets_are_refused_but_plain_configs_save():
    with override_settings(JOBS_SECRET_KEYS=[]):
        with pytest.raises(SecretsUnavailable, match="JOBS_SECRET_KEYS is not set"):
            seal_config("sql", {"connection": "DSN=x", "procedure": "p"})
        assert seal_config("http", {"url": "https://x"}) == ({"url": "https://x"}, "")


def test_rows_sealed_with_an_old_key_still_open_after_rotation_and_rotate_reseals_them(db):
    with override_settings(JOBS_SECRET_KEYS=[OLD_KEY]):
        public, sealed = seal_config("http", HTTP_CONFIG)
        Job.objects.create(
            name="rotating", kind="http", config=public, secrets=sealed, schedule_type="manual"
        )
    with override_settings(JOBS_SECRET_KEYS=[NEW_KEY, OLD_KEY]):
        job = Job.objects.get(name="rotating")
        assert open_config(job)["auth"]["token"] == "bearer-token-123"
        assert secrets_rotate() == 1
    with override_settings(JOBS_SECRET_KEYS=[NEW_KEY]):  # the old key is gone
        assert open_config(Job.objects.get(name="rotating"))["auth"]["token"] == "bearer-token-123"
    with (
        override_settings(JOBS_SECRET_KEYS=[OLD_KEY]),
        pytest.raises(SecretsUnavailable, match="none of JOBS_SECRET_KEYS fits"),
    ):
        open_config(Job.objects.get(name="rotating"))


def test_system_check_fails_when_secret_bearing_jobs_exist_without_keys(db):
    public, sealed = seal_config("sql", {"connection": "DSN=x", "procedure": "p"})
    Job.objects.create(
        name="needs-key", kind="sql", config=public, secrets=sealed, schedule_type="manual"
    )
    with override_settings(JOBS_SECRET_KEYS=[]):
        errors = [e for e in checks.run_checks() if e.id == "jobs.E011"]
    assert errors and "1 job(s) hold encrypted secrets" in errors[0].msg
    with override_settings(JOBS_SECRET_KEYS=["not-a-fernet-key"]):
        assert [e.id for e in checks.run_checks() if e.id.startswith("jobs.E01")] == ["jobs.E010"]


def test_secrets_are_not_in_clear_in_the_job_row(db):
    public, sealed = seal_config("http", HTTP_CONFIG)
    Job.objects.create(
        name="stored", kind="http", config=public, secrets=sealed, schedule_type="manual"
    )
    with connection.cursor() as cur:
        cur.execute("SELECT config::text, secrets FROM jobs_job WHERE name = 'stored'")
        row = " ".join(cur.fetchone())
    for secret in CLEAR:
        assert secret not in row


def test_rotate_secrets_command_reseals_and_audits_without_values(db, capsys):
    from django.core.management import call_command

    from jobs.models import AuditEvent

    with override_settings(JOBS_SECRET_KEYS=[OLD_KEY]):
        public, sealed = seal_config("http", HTTP_CONFIG)
        Job.objects.create(
            name="cli-rotating", kind="http", config=public, secrets=sealed, schedule_type="manual"
        )
    with override_settings(JOBS_SECRET_KEYS=[NEW_KEY, OLD_KEY]):
        call_command("jobs", "rotate-secrets")
    assert "re-sealed the secrets of 1 job(s)" in capsys.readouterr().out
    with override_settings(JOBS_SECRET_KEYS=[NEW_KEY]):
        assert (
            open_config(Job.objects.get(name="cli-rotating"))["headers"]["X-Api-Key"]
            == "api-key-456"
        )
    event = AuditEvent.objects.get(action="secrets.rotate", target="cli-rotating")
    assert event.source == "cli" and "api-key-456" not in json.dumps(event.changes)
