#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError

    from config.env import ImproperlyConfiguredEnv

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfiguredEnv as exc:
        # A bad or missing environment variable: its one-line message says
        # which and why; a traceback would only bury it.
        sys.exit(f"configuration error: {exc}")
    except OperationalError as exc:
        # A missing or unreachable database: one line saying which and what
        # to do, not a traceback through every layer that tried to connect.
        from config.dberrors import database_error_line

        line = database_error_line(exc)
        if line is None:
            raise
        sys.stderr.write(line + "\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
