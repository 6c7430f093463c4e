"""Channel secrets (webhook URLs, signing secrets) encrypted at rest.

Uses the project's key ring (JOBS_SECRET_KEYS, newest first, older keys still
decrypt) through jobs.secrets when it offers text encryption; otherwise the
same Fernet ring directly. Without configured keys (a `make run` sandbox) the
key is derived from DJANGO_SECRET_KEY so secrets are still not stored in clear.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


def _ring() -> MultiFernet:
    keys = list(getattr(settings, "JOBS_SECRET_KEYS", []) or [])
    if not keys:
        digest = hashlib.sha256(("jobwarden-alerts:" + settings.SECRET_KEY).encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])


def _jobs_helpers():
    try:
        from jobs import secrets as jobs_secrets
    except ImportError:
        return None, None
    return getattr(jobs_secrets, "encrypt_text", None), getattr(jobs_secrets, "decrypt_text", None)


def seal(values: dict[str, Any]) -> str:
    if not values:
        return ""
    text = json.dumps(values, sort_keys=True)
    encrypt, _ = _jobs_helpers()
    if callable(encrypt):
        return "j:" + encrypt(text)
    return "f:" + _ring().encrypt(text.encode()).decode()


def unseal(blob: str) -> dict[str, Any]:
    if not blob:
        return {}
    prefix, _, token = blob.partition(":")
    try:
        if prefix == "j":
            _, decrypt = _jobs_helpers()
            return json.loads(decrypt(token))
        return json.loads(_ring().decrypt(token.encode()))
    except (InvalidToken, ValueError, TypeError) as exc:
        raise ValueError("channel secrets cannot be decrypted with the configured keys") from exc
