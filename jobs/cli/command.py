"""The base of every `manage.py <app> <subcommand>` command (jobs, alerts,
compliance): one place that runs the chosen subcommand and maps a domain
error, or a Redis that went away mid-command, to one line on stderr and
exit status 1."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

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
        except (OperationalError, RedisConnectionError, RedisTimeoutError) as exc:
            # Redis (the broker) failed after the services' own check passed.
            from django.conf import settings

            from jobs.broker import shown_url

            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CommandError(
                f"lost the broker at {shown_url(settings.CELERY_BROKER_URL)}: {first}",
                returncode=1,
            ) from None
        if code:
            sys.exit(code)
