"""The base of every `manage.py <app> <subcommand>` command (jobs, alerts,
compliance): one place that runs the chosen subcommand and maps a domain
error to one line on stderr and exit status 1."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from jobs.errors import JobwardenError


class SubcommandCommand(BaseCommand):
    """Subclasses implement `add_subcommands(subparsers)`; every subparser
    sets `handler=fn(options) -> int` (the exit status)."""

    def add_arguments(self, parser: Any) -> None:
        subparsers = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
        subparsers.required = True
        self.add_subcommands(subparsers)

    def add_subcommands(self, subparsers: Any) -> None:
        raise NotImplementedError

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            code = options["handler"](options)
        except JobwardenError as exc:
            # One line, no traceback: the message names what is wrong.
            raise CommandError(exc.message, returncode=1) from None
        if code:
            sys.exit(code)
