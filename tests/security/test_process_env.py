"""Issue 12 item 3: process jobs' environment and interpreters' inline scripts.

The attacks: environment variables an interpreter reads as code
(PYTHONWARNINGS+BROWSER, SHELLOPTS+PS4, PERL5OPT, NODE_OPTIONS, PYTHONPATH,
JAVA_TOOL_OPTIONS, GIT_SSH_COMMAND), PATH/HOME overrides, and a parameter
value `x; cmd` spliced into `sh -c "… {name}"` / `python -c` / `perl -e`."""

from __future__ import annotations

import pytest

from jobs.execution.context import PermanentFailure
from jobs.execution.kinds import get_kind
from jobs.models import Job
from tests.jobs.kinds_support import make_ctx, make_job
from tests.security.support import refused

JOBS = "/api/v1/jobs/"
process = get_kind("process")


@pytest.fixture(autouse=True)
def _executables(settings):
    settings.JOBS_PROCESS_ALLOWED_EXECUTABLES = ["/bin/*", "/usr/bin/*"]


def process_job(executable: str, args: list, env: dict | None = None, **spec) -> dict:
    config = {"executable": executable, "args": args, **({"env": env} if env else {})}
    return {"name": "proc", "kind": "process", "config": config, **spec}


CODE_ENV = [
    {"PYTHONWARNINGS": "ignore::antigravity.Foo", "BROWSER": "sh -c 'touch /tmp/pwn'"},
    {"SHELLOPTS": "xtrace", "PS4": "$(touch /tmp/pwn)"},
    {"PERL5OPT": "-Mwarnings;system('id')"},
    {"NODE_OPTIONS": "--require /tmp/evil.js"},
    {"PYTHONPATH": "/tmp/evil"},
    {"JAVA_TOOL_OPTIONS": "-javaagent:/tmp/evil.jar"},
    {"GIT_SSH_COMMAND": "touch /tmp/pwn"},
    {"PATH": "/tmp/evil:/usr/bin"},
    {"HOME": "/tmp/evil-home"},
]


@pytest.mark.django_db
@pytest.mark.parametrize("env", CODE_ENV, ids=lambda e: "+".join(e))
def test_environment_outside_the_allowlist_is_refused(executor_client, env):
    spec = process_job("/usr/bin/python3", ["/opt/report.py"], env)
    refused(executor_client, spec, f"config.env.{next(iter(env))}", "JOBS_PROCESS_ALLOWED_ENV"
            if next(iter(env)) not in ("PATH", "HOME") else "fixed by Jobwarden")  # fmt: skip


@pytest.mark.django_db
def test_path_and_home_stay_fixed_even_with_a_permissive_allowlist(executor_client, settings):
    settings.JOBS_PROCESS_ALLOWED_ENV = ["*"]
    for name in ("PATH", "HOME", "LD_PRELOAD"):
        spec = process_job("/bin/echo", [], {name: "/tmp/evil"})
        refused(executor_client, spec, f"config.env.{name}", "fixed by Jobwarden")


@pytest.mark.django_db
def test_job_prefixed_variables_are_accepted(executor_client):
    spec = process_job("/bin/echo", ["hi"], {"JOB_MODE": "full"})
    assert executor_client.post(JOBS, spec, format="json").status_code == 201


def test_a_stored_job_with_a_code_variable_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    job = make_job(
        "process",
        {
            "executable": "/usr/bin/python3",
            "args": ["-c", "import warnings; warnings.warn('x')"],
            "env": {"PYTHONWARNINGS": "ignore::antigravity.Foo", "BROWSER": f"touch {marker}"},
        },
    )
    with pytest.raises(PermanentFailure, match="config.env.PYTHONWARNINGS"):
        process.execute(make_ctx(job))
    assert not marker.exists()


# --- interpreters' inline scripts -------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "executable, args, index",
    [
        ("/bin/sh", ["-c", "echo {name}"], 1),
        ("/bin/bash", ["-ec", "echo {name}"], 1),
        ("/bin/bash", ["-o", "pipefail", "-c", "echo {name}"], 3),
        ("/bin/dash", ["-c", "echo hello", "{name}"], None),
        ("/usr/bin/python3", ["-c", "print('{name}')"], 1),
        ("/usr/bin/python3", ["-c{name}"], 0),
        ("/usr/bin/perl", ["-e", "print '{name}'"], 1),
        ("/usr/bin/perl", ["-lne", "print if /{name}/"], 1),
        ("/usr/bin/node", ["--eval", "console.log('{name}')"], 1),
        ("/usr/bin/awk", ['BEGIN {{ print "{name}" }}'], 0),
        ("/usr/bin/env", ["-i", "sh", "-c", "echo {name}"], 3),
        ("/usr/bin/timeout", ["10", "python3", "-c", "print({name})"], 3),
    ],
)
def test_placeholder_inside_an_inline_script_is_refused(executor_client, executable, args, index):
    spec = process_job(executable, args, parameters={"name": "x"})
    if index is None:  # after the script: "$1", data
        assert executor_client.post(JOBS, spec, format="json").status_code == 201
    else:
        refused(executor_client, spec, f"config.args[{index}]", "inline script is code")


@pytest.mark.django_db
def test_a_script_file_and_positional_values_stay_allowed(executor_client):
    for executable, args in (
        ("/usr/bin/python3", ["/opt/jobs/report.py", "--day", "{name}"]),
        ("/bin/sh", ["-c", 'echo "$1"', "sh", "{name}"]),
        ("/usr/bin/perl", ["/opt/jobs/report.pl", "{name}"]),
    ):
        spec = process_job(executable, args, parameters={"name": "x"})
        spec["name"] = f"ok-{len(Job.objects.all())}"
        response = executor_client.post(JOBS, spec, format="json")
        assert response.status_code == 201, response.content


def test_value_passed_as_its_own_argument_stays_data(tmp_path):
    marker = tmp_path / "pwned"
    job = make_job("process", {"executable": "/bin/sh", "args": ["-c", 'echo "$1"', "sh", "{v}"]})
    ctx = make_ctx(job, {"v": f"x; touch {marker}"})
    process.execute(ctx)
    assert ctx.output.getvalue() == f"x; touch {marker}\n"
    assert not marker.exists()


def test_a_stored_inline_script_placeholder_does_not_run(tmp_path):
    # Before the fix, `x; touch marker` ran the touch.
    marker = tmp_path / "pwned"
    job = make_job("process", {"executable": "/bin/sh", "args": ["-c", "echo {v}"]})
    with pytest.raises(PermanentFailure, match=r"config.args\[1\].*inline script"):
        process.execute(make_ctx(job, {"v": f"x; touch {marker}"}))
    assert not marker.exists()
