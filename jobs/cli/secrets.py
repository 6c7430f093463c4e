"""`jobs rotate-secrets`: re-seal every job's secrets with the newest key."""

from __future__ import annotations

from typing import Any


def register(subparsers: Any, command: Any) -> None:
    p = subparsers.add_parser(
        "rotate-secrets",
        help="Re-encrypt job secrets with the first key of JOBS_SECRET_KEYS (then old keys can be removed)",
    )
    p.set_defaults(handler=rotate_secrets)


def rotate_secrets(options: Any) -> int:
    from jobs.actors import Actor
    from jobs.secrets import secrets_rotate

    count = secrets_rotate(actor=Actor.cli())
    print(f"re-sealed the secrets of {count} job(s) with the newest key")
    return 0
