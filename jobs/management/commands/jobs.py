"""`manage.py jobs <subcommand>`: see jobs.cli for how subcommands are added."""

from __future__ import annotations

import sys
from importlib import import_module

from jobs.cli import SUBCOMMAND_MODULES
from jobs.cli.command import SubcommandCommand


class Command(SubcommandCommand):
    help = "Manage and inspect Jobwarden jobs."

    def add_subcommands(self, subparsers):
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
            super().handle(*args, **options)
        except KeyboardInterrupt:
            # Ctrl-C while a subcommand waits: the shell's 130, no traceback.
            sys.exit(130)
