"""Alerts written to the process's log (logger `jobwarden.alerts`).

The channel `make run` creates, so alerts appear in the `[worker]` / `[web]`
output of a fresh install with nothing to set up. Config: `level` (debug,
info, warning, error; default warning). No secrets.
"""

from __future__ import annotations

import logging
from typing import Any

from jobs.errors import ValidationError

LOGGER = "jobwarden.alerts"
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

log = logging.getLogger(LOGGER)


def validate(
    config: dict[str, Any], secrets: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    level = config.get("level", "warning")
    if level not in _LEVELS:
        raise ValidationError(
            f"level must be one of {', '.join(_LEVELS)}", fields={"level": "invalid choice"}
        )
    return {"level": level}, {}


def send(
    payload: dict[str, Any], config: dict[str, Any], secrets: dict[str, Any], *, delivery_id: int
) -> None:
    alert = payload.get("alert") or {}
    text = (payload.get("text") or "").strip()
    log.log(
        _LEVELS.get(config.get("level", "warning"), logging.WARNING),
        "alert %s [%s] %s%s",
        payload.get("event", ""),
        alert.get("severity", ""),
        payload["subject"],
        f"\n{text}" if text else "",
    )
