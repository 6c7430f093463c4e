#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    from django.core.management import execute_from_command_line

    from config.env import ImproperlyConfiguredEnv

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfiguredEnv as exc:
        # A bad or missing environment variable: its one-line message says
        # which and why; a traceback would only bury it.
        sys.exit(f"configuration error: {exc}")


if __name__ == "__main__":
    main()
