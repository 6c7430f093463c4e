"""Channel secrets (webhook URLs, signing secrets) encrypted at rest with the
project's key ring (jobs.secrets: JOBS_SECRET_KEYS, newest first, rotation).
Without keys, storing a secret fails loudly (SecretsUnavailable), like job
secrets do; an e-mail channel has no secrets and needs no key."""

from __future__ import annotations

from typing import Any

from jobs import secrets as jobs_secrets


def seal(values: dict[str, Any]) -> str:
    return jobs_secrets.encrypt(values) if values else ""


def unseal(blob: str) -> dict[str, Any]:
    """Raises ValueError (with the reason) when the keys cannot open it."""
    if not blob:
        return {}
    try:
        return jobs_secrets.decrypt(blob)
    except jobs_secrets.SecretsUnavailable as exc:
        raise ValueError(exc.message) from None
