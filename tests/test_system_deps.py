"""A fresh machine: `make test` installs the Debian packages the tests use (as
root) or names them, and the tests that need ODBC or MariaDB skip with a
reason instead of failing at import."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "system-deps"


def _make_dry_run(target: str) -> str:
    # -B: as on a fresh machine, every step runs; -n: print them, run none.
    return subprocess.run(
        ["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def test_make_test_installs_the_system_packages_and_the_dev_tools():
    steps = _make_dry_run("test")
    assert "bash scripts/system-deps" in steps
    assert "pip install -q -r requirements-dev.lock" in steps
    assert "is flushed" in steps  # says that it empties the test Redis db


def test_make_run_installs_the_runtime_dependencies_only():
    steps = _make_dry_run("run")
    assert "pip install -q -r requirements.lock" in steps
    assert "requirements-dev.lock" not in steps
    assert "system-deps" not in steps


def test_system_deps_names_the_missing_packages_in_one_line_when_not_root():
    # A dpkg-query that finds nothing: the machine as if freshly installed.
    # (Not under pytest's tmp_path: its parent is private to root.)
    with tempfile.TemporaryDirectory() as bindir:
        os.chmod(bindir, 0o755)
        fake = Path(bindir) / "dpkg-query"
        fake.write_text("#!/bin/sh\nexit 1\n")
        fake.chmod(0o755)
        env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}
        command = ["bash", str(SCRIPT)]
        if os.getuid() == 0:
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "apt-get install unixodbc odbc-postgresql odbc-mariadb" in lines[0]


def _pytest_with(prelude: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run pytest in a child whose `prelude` first takes something away."""
    code = textwrap.dedent(prelude) + "\nimport pytest, sys\nsys.exit(pytest.main(sys.argv[1:]))\n"
    return subprocess.run(
        [sys.executable, "-c", code, "-q", "-rs", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_sql_tests_skip_naming_the_packages_when_libodbc_is_missing():
    # sys.modules[name] = None makes `import pyodbc` raise ImportError, as a
    # missing libodbc.so.2 does.
    result = _pytest_with(
        "import sys; sys.modules['pyodbc'] = None",
        "tests/jobs/test_kind_sql.py",
        "tests/jobs/test_kind_integration.py",
        "-k",
        "test_mariadb_procedure_with or test_postgres_procedure_returns or test_sql_jobs_through",
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert "3 skipped" in result.stdout
    assert "libodbc missing: apt-get install unixodbc odbc-mariadb" in result.stdout
    assert "libodbc missing: apt-get install unixodbc odbc-postgresql" in result.stdout


def test_mariadb_tests_skip_saying_so_when_mariadb_is_not_running():
    refuse_3306 = """
        import socket
        _connect = socket.create_connection
        def create_connection(address, *args, **kwargs):
            if address[1] == 3306:
                raise ConnectionRefusedError(111, "Connection refused")
            return _connect(address, *args, **kwargs)
        socket.create_connection = create_connection
    """
    result = _pytest_with(
        refuse_3306, "tests/jobs/test_kind_sql.py", "-k", "test_mariadb_procedure_with"
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert "1 skipped" in result.stdout
    assert "MariaDB not running at 127.0.0.1:3306" in result.stdout
