"""`manage.py jobs import SOURCE ...`: existing job definitions → a `jobs
apply` file (stdout or --output), or applied directly (--apply, all or
nothing through jobs_apply; --dry-run validates only).

Each source entry that could not be mapped is reported (stderr, one line
each; in --json the `problems` list) and the exit status is then 1. With
--apply (which also writes --output if given), such entries save nothing
at all: fix the source, or write a file (--output), edit it and `jobs
apply` it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobs.actors import Actor
from jobs.errors import ValidationError
from jobs.importers import Entry, Problem, validate_entries

HEADER = "# Written by `manage.py jobs import {source}`; apply with `manage.py jobs apply FILE`.\n"


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ValidationError(
            f"cannot read {path}: {reason}", fields={"file": "unreadable"}
        ) from None


def _crontab(options: dict[str, Any]) -> tuple[list[Entry], list[Problem]]:
    from jobs.importers.crontab import is_system_crontab, parse_crontab
    from jobs.schedule import ScheduleError, get_zone

    if options["timezone"]:
        try:
            get_zone(options["timezone"])
        except ScheduleError as exc:
            raise ValidationError(f"--timezone: {exc}") from None
    path = options["file"]
    return parse_crontab(
        _read(path),
        path=path,
        system=options["system"] or is_system_crontab(path),
        allow_shell=options["allow_shell"],
        timezone=options["timezone"],
    )


def _csv(options: dict[str, Any]) -> tuple[list[Entry], list[Problem]]:
    from jobs.importers.csvfile import parse_csv, parse_map

    mapping = parse_map(options["map"])
    path = options["file"]
    return parse_csv(_read(path), path=path, mapping=mapping, delimiter=options["delimiter"])


def _beat(options: dict[str, Any]) -> tuple[list[Entry], list[Problem]]:
    from django.conf import settings
    from django_celery_beat.models import PeriodicTask

    from jobs.importers.beat import items_from_rows, items_from_setting, parse_beat

    rows = PeriodicTask.objects.using(options["database"]).select_related(
        "crontab", "interval", "clocked", "solar"
    )
    items = items_from_rows(rows.order_by("name"))
    if not options["no_settings"]:
        items += items_from_setting(getattr(settings, "CELERY_BEAT_SCHEDULE", {}) or {})
    return parse_beat(items, target_problem=_target_problem)


def _target_problem(target: str) -> str | None:
    """Why `target` cannot be a python job's (the python kind's own rule)."""
    from jobs.execution.kinds.python import resolve_target

    try:
        resolve_target(target)
    except ValidationError as exc:
        return exc.message
    return None


def _handle(out: Any, options: dict[str, Any], read: Any) -> int:
    if options["dry_run"] and not options["apply"]:
        raise ValidationError(
            "--dry-run goes with --apply (without --apply nothing is saved anyway)"
        )
    entries, problems = read(options)
    entries, invalid = validate_entries(entries)
    problems += invalid
    specs = [e.spec for e in entries]
    result: dict[str, Any] = {"jobs": specs, "problems": [p.as_dict() for p in problems]}
    lines = [p.line() for p in problems]
    if options["apply"]:
        result["applied"] = None
        if problems:
            lines.append(f"{len(problems)} entries could not be mapped; nothing saved")
        else:
            result["applied"], apply_lines = _apply(specs, options, result["problems"], out)
            lines += apply_lines
    if options["output"] or not options["apply"]:
        _write(specs, options, out)
    if options["json"]:
        out.json(result)
    for line in lines:
        out.err(line)
    return 1 if result["problems"] else 0


def _apply(
    specs: list[dict[str, Any]], options: dict[str, Any], problems: list[Any], out: Any
) -> tuple[dict[str, Any] | None, list[str]]:
    from jobs.services.jobs import jobs_apply

    source = options["source"]
    try:
        report = jobs_apply(
            specs, actor=Actor.cli(), dry_run=options["dry_run"], reason=f"jobs import {source}"
        )
    except ValidationError as exc:
        # What jobs apply refuses (an executable off the allowlist, an env
        # name JOBS_PROCESS_ALLOWED_ENV does not allow ...), one line each.
        refused = exc.problems or [exc.message]
        problems += [{"where": "apply", "entry": "", "reason": p} for p in refused]
        return None, [f"apply: {p}" for p in refused] + ["nothing saved"]
    if not options["json"]:
        for line in report.lines():
            out.line(line)
        if report.dry_run:
            out.line("dry run: nothing saved")
    return report.as_dict(), []


def _write(specs: list[dict[str, Any]], options: dict[str, Any], out: Any) -> None:
    import yaml

    text = HEADER.format(source=options["source"]) + yaml.safe_dump(
        {"jobs": specs}, sort_keys=False, allow_unicode=True, width=100
    )
    if options["output"]:
        try:
            Path(options["output"]).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ValidationError(
                f"cannot write {options['output']}: {exc.strerror or exc}"
            ) from None
        if not options["json"]:
            out.line(f"wrote {len(specs)} jobs to {options['output']}")
    elif not options["json"]:
        out.line(text.rstrip("\n"))


def _common(parser: Any) -> None:
    parser.add_argument(
        "--output", metavar="FILE.yaml", help="write the jobs apply file here (default: stdout)"
    )
    parser.add_argument("--apply", action="store_true", help="apply the jobs now (all or nothing)")
    parser.add_argument(
        "--dry-run", action="store_true", help="with --apply: validate, save nothing"
    )
    parser.add_argument(
        "--json", action="store_true", help="print jobs, problems and the apply report as JSON"
    )


def register(subparsers: Any, command: Any) -> None:
    from jobs.cli.core import _Out

    out = _Out(command)
    text = "Import existing job definitions (a crontab, a CSV file, celery beat) as jobs."
    parser = subparsers.add_parser("import", help=text, description=text)
    sources = parser.add_subparsers(dest="source", metavar="SOURCE")
    sources.required = True

    def add_source(name: str, read: Any, help_text: str) -> Any:
        p = sources.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=lambda options: _handle(out, options, read))
        _common(p)
        return p

    def add(name: str, read: Any, help_text: str) -> Any:
        p = add_source(name, read, help_text)
        p.add_argument("file", metavar="FILE")
        return p

    p = add("crontab", _crontab, "Each crontab line becomes a process job (no shell).")
    p.add_argument(
        "--system",
        action="store_true",
        help="the file has a user column (/etc/crontab format; implied for /etc/crontab and /etc/cron.d/*)",
    )
    p.add_argument(
        "--allow-shell",
        action="store_true",
        help="map a line that needs a shell (pipes, redirection, $VAR ...) to SHELL -c LINE",
    )
    p.add_argument(
        "--timezone",
        metavar="TZ",
        help="the zone of lines before any CRON_TZ/TZ (cron uses the host's; default UTC)",
    )
    p = add("csv", _csv, "Each CSV row becomes a job, through a column mapping.")
    p.add_argument(
        "--map",
        required=True,
        metavar="KEY=COL,...",
        help="spec key = column, comma-separated (name=COL required; config.KEY=COL for config)",
    )
    p.add_argument("--delimiter", default=",", help="the CSV delimiter (default ',')")
    p = add_source(
        "beat",
        _beat,
        "Each django-celery-beat PeriodicTask and CELERY_BEAT_SCHEDULE entry becomes a python job.",
    )
    p.add_argument(
        "--database", default="default", metavar="ALIAS", help="read PeriodicTask rows from here"
    )
    p.add_argument(
        "--no-settings", action="store_true", help="skip CELERY_BEAT_SCHEDULE from settings"
    )
