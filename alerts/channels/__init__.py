"""Channel senders, one module per channel kind.

Each module exposes `validate(config, secrets) -> (config, secrets)` (raises
jobs.errors.ValidationError naming the field) and `send(payload, config,
secrets, *, delivery_id) -> int | None` (the HTTP status, or None for SMTP
and the log), raising DeliveryError when the channel did not take the
message. Senders do no database work: alerts.services.delivery records
every attempt.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType


class DeliveryError(Exception):
    """The channel did not accept the message (down, refused, bad status)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


_MODULES = {
    "email": "alerts.channels.email",
    "log": "alerts.channels.log",
    "slack": "alerts.channels.slack",
    "teams": "alerts.channels.teams",
    "webhook": "alerts.channels.webhook",
}


def sender(kind: str) -> ModuleType:
    try:
        return import_module(_MODULES[kind])
    except KeyError:
        raise ValueError(f"unknown channel kind {kind!r}") from None
