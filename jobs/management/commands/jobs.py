"""`manage.py jobs <subcommand>`: see jobs.cli for how subcommands are added."""

from __future__ import annotations

import sys
from importlib import import_module

from django.core.management.base import BaseCommand, CommandError

from jobs.cli import SUBCOMMAND_MODULES
from jobs.errors import JobwardenError


class Command(BaseCommand):
    help = "Manage and inspect Jobwarden jobs."

    def add_arguments(self, parser):
        subparsers = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
        subparsers.required = True
        for module_path in SUBCOMMAND_MODULES:
            try:
                module = import_module(module_path)
            except ModuleNotFoundError as exc:
                if exc.name == module_path:
                    continue  # an app that has no CLI yet
                raise
            module.register(subparsers, self)

    def handle(self, *args, **options):
        try:
            code = options["handler"](options)
        except JobwardenError as exc:
            # One line, no traceback: the message names what is wrong.
            raise CommandError(exc.message, returncode=1) from None
        except KeyboardInterrupt:
            sys.exit(130)
        if code:
            sys.exit(code)
