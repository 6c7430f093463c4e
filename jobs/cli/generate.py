"""`jobs generate NAME --app APP [--cron EXPR | --manual] [--kind KIND]
[--timezone TZ] [--output FILE] [--force]`: a new job's starting files
(see jobs.generate)."""

from __future__ import annotations

from typing import Any

from jobs.generate import KINDS, Request, job_generate
from jobs.generate.files import shown


def register(subparsers: Any, command: Any) -> None:
    p = subparsers.add_parser(
        "generate",
        help="Write a new job: a @job stub and its test (python), or a commented spec file.",
        description="python (default): add a @job function stub to APP/jobs.py and a test "
        "next to it. process, http, sql: write a commented `jobs apply` file with every "
        "config key of the kind (APP/jobs/NAME.yaml, or --output).",
    )
    p.add_argument("name", metavar="NAME", help="the job's name (letters, digits, - and _)")
    p.add_argument("--app", required=True, help="installed app label or module to write into")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--cron", metavar="EXPR", help="schedule (5-field cron expression)")
    when.add_argument(
        "--manual", action="store_true", help="no schedule: runs only when triggered (default)"
    )
    p.add_argument("--kind", choices=KINDS, default="python")
    p.add_argument("--timezone", metavar="TZ", help="IANA zone the cron is read in (default UTC)")
    p.add_argument(
        "--output", metavar="FILE", help="where the spec file goes (not for --kind python)"
    )
    p.add_argument("--force", action="store_true", help="overwrite files that exist")
    p.set_defaults(handler=lambda options: generate(command, options))


def generate(command: Any, options: dict[str, Any]) -> int:
    result = job_generate(
        Request(
            name=options["name"],
            app=options["app"],
            kind=options["kind"],
            cron=options["cron"],
            timezone=options["timezone"],
            output=options["output"],
            force=options["force"],
        )
    )
    for path, what in result.files:
        command.stdout.write(f"{what} {shown(path)}")
    command.stdout.write("next:")
    for step in result.next_steps:
        command.stdout.write(f"  {step}")
    return 0
