"""`jobs apply` of what `jobs info NAME --json` prints, for every kind, and a
file's every problem reported at once (nothing saved)."""

from __future__ import annotations

import copy
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import override_settings

from jobs.models import AuditEvent, Job
from jobs.secrets import MASK, open_config
from jobs.specs import job_spec_values

PG_ODBC = "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=5432;DATABASE=test;UID=postgres"

# One spec per kind, each with secrets where the kind has them.
SPECS = {
    "python": {
        "name": "rt-python",
        "kind": "python",
        "target": "jobs.examples:report_progress",
        "parameters": {"steps": 2},
        "cron": "*/5 * * * *",
        "timezone": "Europe/Prague",
        "tags": ["a", "b"],
        "owner": "ann",
        "expected_max_duration": "10m",
        "notification_emails": ["ops@example.com"],
        "max_alerts_per_hour": 3,
        "parameter_queries": [{"name": "n", "query": "SELECT 1", "connection": "main"}],
        "config": {"connections": {"main": PG_ODBC}, "secret_parameters": {"pw": "hunter2"}},
    },
    "process": {
        "name": "rt-process",
        "kind": "process",
        "config": {
            "executable": "/usr/bin/echo",
            "args": ["hello", "{who}"],
            "env": {"JOB_MODE": "fast", "JOB_API_TOKEN": "s3cret"},
        },
        "parameters": {"who": "world"},
        "run_at": "2031-01-01T10:00:00+00:00",
    },
    "http": {
        "name": "rt-http",
        "kind": "http",
        "config": {
            "method": "POST",
            "url": "https://example.com/hook",
            "auth": {"type": "bearer", "token": "t0k3n"},
            "headers": {"X-Custom": {"value": "abc", "secret": True}, "Accept": "text/plain"},
            "body": {"a": 1},
            "expect_status": [200, 201],
        },
        "max_retries": 2,
        "retry_delay": "30s",
    },
    "sql": {
        "name": "rt-sql",
        "kind": "sql",
        "config": {
            "connection": PG_ODBC,
            "procedure": "do_it",
            "params": [{"name": "n", "type": "int", "value": 1}],
        },
        "overlap": "queue",
    },
}
SECRETS = {  # the masked fields of each export, and their clear values
    "python": {("connections", "main"): PG_ODBC, ("secret_parameters", "pw"): "hunter2"},
    "process": {("env", "JOB_API_TOKEN"): "s3cret"},
    "http": {("auth", "token"): "t0k3n", ("headers", "X-Custom", "value"): "abc"},
    "sql": {("connection",): PG_ODBC},
}


@pytest.fixture(autouse=True)
def _kinds_allowed():
    with override_settings(
        JOBS_PROCESS_ALLOWED_EXECUTABLES=["/usr/bin/echo"],
        JOBS_SQL_ALLOWED_PROCEDURES=["do_it"],
    ):
        yield


def apply_file(tmp_path, specs, name="jobs.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"jobs": specs}))
    call_command("jobs", "apply", str(path))


def export(name, capsys) -> dict:
    capsys.readouterr()
    call_command("jobs", "info", name, "--json")
    return json.loads(capsys.readouterr().out)


def fill_secrets(exported: dict, secrets: dict) -> dict:
    filled = copy.deepcopy(exported)
    for path, value in secrets.items():
        node = filled["config"]
        for key in path[:-1]:
            node = node[key]
        assert node[path[-1]] == MASK, f"{path} is shown in clear by `jobs info --json`"
        node[path[-1]] = value
    return filled


@pytest.mark.parametrize("kind", list(SPECS))
@pytest.mark.django_db
def test_info_json_applies_back_unchanged_on_the_same_instance(kind, tmp_path, capsys):
    get_user_model().objects.create(username="ann")
    apply_file(tmp_path, [SPECS[kind]])
    exported = export(SPECS[kind]["name"], capsys)

    apply_file(tmp_path, [exported], "export.json")

    assert f"unchanged {SPECS[kind]['name']}" in capsys.readouterr().out


@pytest.mark.parametrize("kind", list(SPECS))
@pytest.mark.django_db
def test_info_json_with_its_secrets_filled_in_recreates_the_same_job(kind, tmp_path, capsys):
    get_user_model().objects.create(username="ann")
    apply_file(tmp_path, [SPECS[kind]])
    job = Job.objects.get(name=SPECS[kind]["name"])
    before, clear = job_spec_values(job), open_config(job)
    exported = export(job.name, capsys)
    job.delete()  # as if applied to another instance

    apply_file(tmp_path, [fill_secrets(exported, SECRETS[kind])], "export.json")

    again = Job.objects.get(name=SPECS[kind]["name"])
    assert job_spec_values(again) == before
    assert open_config(again) == clear


@pytest.mark.django_db
def test_an_export_with_masked_secrets_names_every_one_and_saves_nothing(tmp_path, capsys):
    get_user_model().objects.create(username="ann")
    apply_file(tmp_path, list(SPECS.values()))
    exported = [export(spec["name"], capsys) for spec in SPECS.values()]
    Job.objects.filter(name__startswith="rt-").delete()
    audited = AuditEvent.objects.count()

    with pytest.raises(CommandError) as info:
        apply_file(tmp_path, exported, "export.json")

    stderr = capsys.readouterr().err
    for kind, secrets in SECRETS.items():
        for path in secrets:
            assert f"job 'rt-{kind}': config.{'.'.join(path)}: the value is masked" in stderr
    assert str(info.value).endswith("6 problems, nothing saved")
    assert not Job.objects.filter(name__startswith="rt-").exists()
    assert AuditEvent.objects.count() == audited


@pytest.mark.django_db
def test_apply_reports_every_invalid_spec_and_field_then_saves_nothing(tmp_path, capsys):
    specs = [
        {"name": "ok", "target": "jobs.examples:report_progress"},
        {"name": "bad-fields", "target": "jobs.examples:report_progress", "cron": "61 * * * *"}
        | {"timeout": "soon", "colour": "blue"},
        {"name": "bad-target", "target": "jobs.examples:nope"},
        {"name": "ok", "target": "jobs.examples:report_progress"},
        "not a mapping",
    ]

    with pytest.raises(CommandError) as info:
        apply_file(tmp_path, specs)

    lines = capsys.readouterr().err.splitlines()
    assert any(line.startswith("job 'bad-fields': cron: invalid cron expression") for line in lines)
    assert any(line.startswith("job 'bad-fields': timeout: 'soon' is not a") for line in lines)
    assert "job 'bad-fields': colour: unknown field" in lines
    assert any(line.startswith("job 'bad-target': target") for line in lines)
    assert "job 'ok': name: defined twice (specs #1 and #4)" in lines
    assert any(line.startswith("job #5: expected a mapping") for line in lines)
    assert str(info.value).endswith("6 problems, nothing saved")
    assert info.value.returncode == 1
    assert not Job.objects.exists()
    assert not AuditEvent.objects.exists()
