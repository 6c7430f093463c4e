"""Secrets inside a job's kind config: sealed (encrypted) on save, opened for
execution only, masked on every read.

PLACEHOLDER until the job-kinds issue: no field is treated as secret yet.
"""

from __future__ import annotations

from typing import Any

MASK = "********"


def seal_config(kind: str, config: dict[str, Any], previous_secrets: str = "") -> tuple[dict[str, Any], str]:
    """Split `config` into (public config, encrypted secrets blob). A masked
    value in `config` keeps the previous secret (so a read-modify-write
    round-trip through the API does not erase it)."""
    return dict(config or {}), previous_secrets or ""


def open_config(job: Any) -> dict[str, Any]:
    """The full config with secrets in clear, for execution only."""
    return dict(job.config or {})


def masked_config(job: Any) -> dict[str, Any]:
    """The config as every read (admin, API, CLI, audit) shows it."""
    return dict(job.config or {})
