"""The `manage.py jobs` command is assembled from subcommand modules.

Each module in SUBCOMMAND_MODULES defines `register(subparsers, command)` adding its
subcommands; each subparser sets `handler=callable(options) -> int`. Handlers
parse input, call one service or selector, and print text or --json.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

SUBCOMMAND_MODULES = [
    "jobs.cli.core",  # list, info, run, history, enable, disable, cancel, apply
    "jobs.cli.operations",  # retry, reset-health, delete
    "monitoring.cli",  # stats, health, status, cleanup, schedule, token
    "jobs.cli.secrets",  # rotate-secrets
    "jobs.cli.journal",  # journal [flush | retry-dead]
    "jobs.cli.importing",  # import crontab | csv | beat
    "jobs.cli.generate",  # generate (a new job's stub and test, or spec file)
]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def parse_params(pairs: list[str] | None) -> dict[str, Any]:
    """--param k=v (repeatable); values that parse as JSON keep their type."""
    from jobs.errors import ValidationError

    params: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValidationError(f"bad parameter {pair!r}: expected key=value")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params
