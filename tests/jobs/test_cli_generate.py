"""`manage.py jobs generate`: a python job's stub and test written into a
real (temporary) installed app, importable, passing its own test and synced;
the other kinds' commented spec files applied after filling them in; every
bad input refused in one line with nothing written."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings

from jobs.definitions import discover, registry
from jobs.execution.kinds.reference import COMMON, KINDS
from jobs.models import Job
from tests.conftest import ROOT
from tests.factories import JobFactory

PG_ODBC = "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=5432;DATABASE=test;UID=postgres"
FILLED = {  # what a user writes over each placeholder
    "process": {"executable": "/usr/bin/echo"},
    "http": {"url": "http://127.0.0.1:8080/ping"},
    "sql": {"connection or database": PG_ODBC, "procedure": "do_it"},
}


class App:
    """A throwaway app package on sys.path, installed for the test."""

    def __init__(self, root: Path):
        self.name = f"genapp_{uuid.uuid4().hex[:8]}"
        self.root = root
        self.path = root / self.name
        self.path.mkdir()
        (self.path / "__init__.py").write_text("")

    def files(self) -> dict[str, str]:
        return {
            str(p.relative_to(self.path)): p.read_text()
            for p in sorted(self.path.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts
        }

    def import_jobs(self):
        return importlib.import_module(f"{self.name}.jobs")


@pytest.fixture
def app(tmp_path, monkeypatch):
    new = App(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    before = {d.name for d in discover()}  # discovered first: teardown keeps those
    with override_settings(
        INSTALLED_APPS=[*settings.INSTALLED_APPS, new.name],
        JOBS_PROCESS_ALLOWED_EXECUTABLES=["/usr/bin/echo"],
        JOBS_HTTP_ALLOWED_NETWORKS=["127.0.0.1/32"],
        JOBS_SQL_ALLOWED_PROCEDURES=["do_it"],
    ):
        yield new
    # The registry and sys.modules are per process: leave them as found.
    for definition in list(registry):
        if definition.name not in before:
            registry.unregister(definition.name)
    for module in [m for m in sys.modules if m.split(".")[0] == new.name]:
        del sys.modules[module]


def generate(*args: str, capsys=None) -> str:
    call_command("jobs", "generate", *args)
    return capsys.readouterr().out if capsys else ""


def refused(*args: str) -> str:
    with pytest.raises(CommandError) as err:
        call_command("jobs", "generate", *args)
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# --- python -------------------------------------------------------------------------


@pytest.mark.django_db
def test_python_job_is_created_with_jobs_module_and_test_then_synced(app, capsys):
    out = generate(
        "nightly-report",
        "--app",
        app.name,
        "--cron",
        "0 2 * * *",
        "--timezone",
        "Europe/Prague",
        capsys=capsys,
    )

    files = app.files()
    assert set(files) == {"__init__.py", "jobs.py", "test_job_nightly_report.py"}
    assert out.splitlines()[:2] == [
        f"created {app.path / 'jobs.py'}",
        f"created {app.path / 'test_job_nightly_report.py'}",
    ]
    source = files["jobs.py"]
    assert "from jobs.definitions import job" in source
    assert '@job(cron="0 2 * * *", timezone="Europe/Prague")\ndef nightly_report(ctx):' in source
    for use in ("ctx.logger.info", "ctx.progress(", "ctx.check_cancelled()"):
        assert use in source

    nightly_report = app.import_jobs().nightly_report
    assert nightly_report.job_name == "nightly-report"
    call_command("jobs", "sync")
    assert "created   nightly-report" in capsys.readouterr().out
    job = Job.objects.get(name="nightly-report")
    assert (job.kind, job.target, job.cron, job.timezone) == (
        "python",
        f"{app.name}.jobs:nightly_report",
        "0 2 * * *",
        "Europe/Prague",
    )
    assert job.description == "Nightly report."


@pytest.mark.django_db
def test_generated_test_passes_as_generated_and_the_code_is_lint_clean(app, tmp_path):
    generate("sync_orders", "--app", app.name, "--manual")
    generate("2fa-reminder", "--app", app.name, "--cron", "*/5 * * * *")
    (tmp_path / "gensettings.py").write_text(
        f"from config.settings.test import *  # noqa: F403\n"
        f"INSTALLED_APPS = [*INSTALLED_APPS, {app.name!r}]  # noqa: F405\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gensettings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    tests = [
        str(app.path / "test_job_sync_orders.py"),
        str(app.path / "test_job_job_2fa_reminder.py"),
    ]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout

    ruff = Path(sys.executable).parent / "ruff"
    for check in (["check", "--select", "E,F,W,B,UP,S", "--ignore", "S101"], ["format", "--check"]):
        lint = subprocess.run(
            [str(ruff), *check, "--no-cache", "--isolated", "--line-length", "100", str(app.path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.django_db
def test_names_a_function_cannot_carry_are_kept_with_name(app):
    generate("sync_orders", "--app", app.name)
    generate("2fa-reminder", "--app", app.name)
    module = app.import_jobs()
    assert module.sync_orders.job_name == "sync_orders"
    assert module.job_2fa_reminder.job_name == "2fa-reminder"
    assert '@job(name="sync_orders")' in app.files()["jobs.py"]


@pytest.mark.django_db
def test_existing_jobs_module_is_added_to_keeping_its_content(app):
    original = '"""Shop jobs."""\n\nimport os\n\n\ndef helper():\n    return os.sep\n'
    (app.path / "jobs.py").write_text(original)
    generate("first-job", "--app", app.name)
    generate("second-job", "--app", app.name, "--cron", "0 * * * *")

    source = app.files()["jobs.py"]
    assert source.startswith('"""Shop jobs."""\n\nimport os\nfrom jobs.definitions import job\n')
    assert source.count("from jobs.definitions import job") == 1
    assert "def helper():\n    return os.sep\n" in source
    module = app.import_jobs()
    assert module.helper() == os.sep
    assert {module.first_job.job_name, module.second_job.job_name} == {"first-job", "second-job"}


@pytest.mark.django_db
def test_test_file_goes_into_the_apps_tests_package_when_it_has_one(app):
    (app.path / "tests").mkdir()
    (app.path / "tests" / "__init__.py").write_text("")
    generate("nightly-report", "--app", app.name)
    assert "tests/test_job_nightly_report.py" in app.files()


@pytest.mark.django_db
def test_existing_test_file_is_kept_unless_forced(app):
    (app.path / "test_job_nightly_report.py").write_text("# mine\n")
    message = refused("nightly-report", "--app", app.name)
    assert message.endswith(
        "test_job_nightly_report.py already exists; pass --force to overwrite it"
    )
    assert set(app.files()) == {"__init__.py", "test_job_nightly_report.py"}  # no jobs.py

    generate("nightly-report", "--app", app.name, "--force")
    assert (
        "def test_nightly_report_stops_when_cancelled" in app.files()["test_job_nightly_report.py"]
    )


@pytest.mark.django_db
def test_function_already_in_jobs_module_is_refused(app):
    (app.path / "jobs.py").write_text("def nightly_report(ctx):\n    return 1\n")
    message = refused("nightly-report", "--app", app.name, "--force")
    assert message.endswith("jobs.py already defines 'nightly_report'; pick another job name")
    assert app.files()["jobs.py"] == "def nightly_report(ctx):\n    return 1\n"


# --- refusals: one line, exit 1, nothing written ------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["bad name!"], "job 'bad name!': name: "),
        (["ok", "--cron", "61 * * * *"], "job 'ok': cron: "),
        (["ok", "--cron", "0 2 * * *", "--timezone", "Mars/Base"], "job 'ok': timezone: "),
        (["ok", "--cron", "0 2 * * *", "--manual"], "not allowed with argument"),
        (["ok", "--output", "x.yaml"], "--output: only for spec files"),
        (["alerts-escalate"], "job 'alerts-escalate' already exists in code (alerts.jobs:"),
        (["alerts-escalate", "--kind", "http"], "job 'alerts-escalate' already exists in code"),
    ],
)
def test_bad_input_is_refused_in_one_line_and_nothing_is_written(app, args, expected):
    assert expected in refused(*args, "--app", app.name)
    assert set(app.files()) == {"__init__.py"}


@pytest.mark.django_db
def test_a_name_taken_in_the_database_is_refused(app):
    JobFactory(name="from-the-api")
    for kind in ("python", "sql"):
        message = refused("from-the-api", "--app", app.name, "--kind", kind)
        assert message.startswith("job 'from-the-api' already exists in the database")
    assert set(app.files()) == {"__init__.py"}


@pytest.mark.django_db
def test_unknown_app_is_refused():
    assert refused("ok", "--app", "no_such_app").startswith(
        "--app: 'no_such_app' is not an installed app"
    )


# --- process, http, sql -------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["process", "http", "sql"])
def test_spec_file_lists_every_key_and_applies_once_filled(app, kind, tmp_path):
    generate(
        "nightly-export",
        "--app",
        app.name,
        "--kind",
        kind,
        "--cron",
        "30 1 * * *",
        "--timezone",
        "Europe/Prague",
    )
    path = app.path / "jobs" / "nightly-export.yaml"
    text = path.read_text()
    for key in (*KINDS[kind]["keys"], *COMMON):
        assert f"    # {key.name} (" in text  # its meaning, type and default
        assert f"    {key.name}: " in text or f"    # {key.name}: " in text

    # Unfilled, the file is refused (a placeholder is no value).
    with pytest.raises(CommandError) as unfilled:
        call_command("jobs", "apply", str(path), "--dry-run")
    assert "job 'nightly-export': config." in str(unfilled.value)
    for key, value in FILLED[kind].items():
        assert f'"<required: {key}>"' in text
        text = text.replace(f'"<required: {key}>"', f'"{value}"')
    path.write_text(text)
    call_command("jobs", "apply", str(path), "--dry-run")

    (spec,) = yaml.safe_load(text)
    assert (spec["name"], spec["kind"], spec["cron"], spec["timezone"]) == (
        "nightly-export",
        kind,
        "30 1 * * *",
        "Europe/Prague",
    )
    assert not Job.objects.filter(name="nightly-export").exists()


@pytest.mark.django_db
def test_spec_file_to_output_is_never_overwritten_without_force(app, tmp_path):
    out = tmp_path / "specs" / "ping.yaml"
    generate("ping", "--app", app.name, "--kind", "http", "--output", str(out), "--manual")
    assert "  cron: null\n" in out.read_text()
    out.write_text("mine")
    assert refused("ping", "--app", app.name, "--kind", "http", "--output", str(out)).endswith(
        "ping.yaml already exists; pass --force to overwrite it"
    )
    assert out.read_text() == "mine"
    generate("ping", "--app", app.name, "--kind", "http", "--output", str(out), "--force")
    assert "    url: " in out.read_text()
    assert set(app.files()) == {"__init__.py"}
