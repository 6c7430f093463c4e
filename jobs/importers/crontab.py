"""A crontab → process job specs (`jobs import crontab FILE`).

Formats: the user format (`m h dom mon dow command`, what `crontab -l`
prints) and the system format with a user column (`/etc/crontab`,
`/etc/cron.d/*`: `m h dom mon dow user command`); the caller says which
(`--system`, or the file's path, see `is_system_crontab`).

Rules, as cron reads a file:
- `NAME=value` lines apply to the lines below them: MAILTO →
  notification_emails, CRON_TZ / TZ → timezone, SHELL → the shell of
  `--allow-shell` jobs; PATH and HOME are fixed by Jobwarden (an executable
  without a slash is looked up on JOBS_PROCESS_PATH), so they are dropped;
  any other variable goes into the job's `env` (which JOBS_PROCESS_ALLOWED_ENV
  must allow when the spec is applied).
- `#` lines directly above a job line become its description.
- `@daily`-style macros map to cron; `@reboot` has no equivalent (reported).
- The command becomes `executable` + `args` (shlex, no shell). A command that
  needs a shell is reported, or with `allow_shell` becomes an explicit
  `SHELL -c COMMAND` job. An unescaped `%` (cron: newline, the rest is stdin)
  is reported (process jobs have no stdin); `\\%` is a literal `%`.
- `{name}` in a command would be read as a Jobwarden parameter placeholder,
  so it is escaped to `{{name}}` (which runs as the literal `{name}`).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email

from jobs.importers import (
    Entry,
    Problem,
    imported_tags,
    slug_name,
    unique_names,
    with_source_line,
)
from jobs.importers.shell import shell_reason
from jobs.schedule import ScheduleError, check_cron_fires, get_zone

SOURCE = "crontab"
_ENV_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?::[^{}]*)?)\}")
_ESCAPED = re.compile(r"\{\{[A-Za-z_][A-Za-z0-9_]*(?::[^{}]*)?\}\}")
_DROPPED_ENV = {"PATH", "HOME", "SHELL", "MAILTO", "CRON_TZ", "TZ", "MAILFROM", "LOGNAME", "USER"}


class Unmapped(Exception):
    """A line that cannot become a job; the message says why."""


def is_system_crontab(path: str) -> bool:
    """/etc/crontab and /etc/cron.d/* have a user column; other files do not."""
    return path == "/etc/crontab" or path.startswith("/etc/cron.d/")


@dataclass
class _State:
    """What the lines above the current one have set."""

    env: dict[str, str] = field(default_factory=dict)
    emails: list[str] | None = None
    timezone: str | None = None
    shell: str = "/bin/sh"
    comments: list[str] = field(default_factory=list)


def parse_crontab(
    text: str,
    *,
    path: str,
    system: bool = False,
    allow_shell: bool = False,
    timezone: str | None = None,
) -> tuple[list[Entry], list[Problem]]:
    """The job specs of a crontab's lines and a Problem for each line that
    could not be mapped. Pure: reads nothing but `text`."""
    state = _State(timezone=timezone)
    entries: list[Entry] = []
    problems: list[Problem] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = f"{SOURCE} {path} line {number}"
        if not line:
            state.comments = []
        elif line.startswith("#"):
            state.comments.append(line.lstrip("#").strip())
        else:
            try:
                env = _ENV_LINE.match(line)
                if env:
                    _set_variable(state, env.group(1), _unquote(env.group(2)))
                else:
                    spec = _job_spec(line, where, state, system, allow_shell)
                    entries.append(Entry(where, spec, line))
            except Unmapped as exc:
                problems.append(Problem(where, line, str(exc)))
            state.comments = []
    return unique_names(entries), problems


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _set_variable(state: _State, name: str, value: str) -> None:
    if name == "MAILTO":
        emails = [e.strip() for e in value.split(",") if e.strip()]
        for email in emails:
            try:
                validate_email(email)
            except DjangoValidationError:
                state.emails = None
                raise Unmapped(
                    f"MAILTO {email!r} is not an email address (a local user?); "
                    "the jobs below get no notification_emails"
                ) from None
        state.emails = emails
    elif name in ("CRON_TZ", "TZ"):
        try:
            get_zone(value)
        except ScheduleError as exc:
            raise Unmapped(f"{name}: {exc}") from None
        state.timezone = value
    elif name == "SHELL":
        state.shell = value
    elif name not in _DROPPED_ENV:
        state.env[name] = value


def _split_schedule(line: str, system: bool) -> tuple[str, str, str]:
    """(cron, user, command) of a job line."""
    fields = 1 if line.startswith("@") else 5
    parts = line.split(None, fields + (1 if system else 0))
    if len(parts) < fields + (2 if system else 1):
        raise Unmapped(
            "expected " + ("a user and " if system else "") + "a command after the schedule"
        )
    schedule = " ".join(parts[:fields])
    user = parts[fields] if system else ""
    command = parts[-1]
    if schedule.lower() == "@reboot":
        raise Unmapped("@reboot has no equivalent (Jobwarden schedules by time)")
    try:
        cron = check_cron_fires(schedule)
    except ScheduleError as exc:
        raise Unmapped(str(exc)) from None
    return cron, user, command


def _cron_command(command: str) -> str:
    """The command sh would get: cron turns an unescaped % into a newline and
    feeds the rest to stdin; \\% is a literal %."""
    if re.search(r"(?<!\\)%", command):
        raise Unmapped(
            "an unescaped '%' sends the rest of the line to stdin (process jobs have none)"
        )
    return command.replace("\\%", "%")


def _escape_placeholders(text: str) -> str:
    if _ESCAPED.search(text):
        raise Unmapped("'{{name}}' reads as an escaped Jobwarden placeholder; edit it by hand")
    return _PLACEHOLDER.sub(r"{{\1}}", text)


def _job_spec(
    line: str, where: str, state: _State, system: bool, allow_shell: bool
) -> dict[str, Any]:
    cron, user, command = _split_schedule(line, system)
    command = _cron_command(command)
    reason = shell_reason(command)
    if reason is None:
        try:
            argv = shlex.split(command)
        except ValueError as exc:  # a trailing backslash
            raise Unmapped(f"cannot split the command: {exc}") from None
        if not argv or not argv[0]:
            raise Unmapped("the command is empty")
        executable, args = argv[0], argv[1:]
        if "/" in executable and not executable.startswith("/"):
            raise Unmapped(f"{executable!r} is a relative path (give an absolute one)")
        if "{" in executable:
            raise Unmapped(
                "the executable may not contain '{' (it is checked against the allowlist)"
            )
    elif allow_shell:
        executable, args = state.shell, ["-c", command]
    else:
        raise Unmapped(f"needs a shell: {reason} (use --allow-shell to map it to {state.shell} -c)")
    config: dict[str, Any] = {
        "executable": executable,
        "args": [_escape_placeholders(a) for a in args],
    }
    if state.env:
        config["env"] = dict(state.env)
    description = "\n".join(state.comments)
    spec: dict[str, Any] = {
        "name": slug_name(command, "cron-job"),
        "description": with_source_line(description, where + (f" (user {user})" if user else "")),
        "kind": "process",
        "config": config,
        "cron": cron,
        "tags": imported_tags(SOURCE),
    }
    if state.timezone:
        spec["timezone"] = state.timezone
    if state.emails is not None:
        spec["notification_emails"] = list(state.emails)
    return spec
