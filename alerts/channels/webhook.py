"""Generic JSON webhook signed with HMAC-SHA256.

Headers: `X-Jobwarden-Timestamp` (unix seconds), `X-Jobwarden-Signature`
(`sha256=<hex of HMAC(secret, "<timestamp>.<body>")>`) and
`X-Jobwarden-Delivery` (the delivery id: the same on every retry, so the
receiver can drop duplicates). A receiver recomputes the HMAC over the raw
body and rejects old timestamps, which stops replays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets as pysecrets
import time
from typing import Any

from alerts.channels.http import check_url, post_json
from jobs.errors import ValidationError

SIGNATURE_HEADER = "X-Jobwarden-Signature"
TIMESTAMP_HEADER = "X-Jobwarden-Timestamp"
DELIVERY_HEADER = "X-Jobwarden-Delivery"


def validate(
    config: dict[str, Any], secrets: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    url = secrets.get("url") or config.get("url")
    check_url(url, "url")
    secret = secrets.get("secret") or pysecrets.token_urlsafe(32)
    if not isinstance(secret, str) or len(secret) < 16:
        raise ValidationError(
            "secret must be at least 16 characters", fields={"secret": "too short"}
        )
    return {}, {"url": url, "secret": secret}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, *, tolerance: float = 300
) -> bool:
    """What a receiver does (also used by the tests)."""
    if abs(time.time() - float(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def send(
    payload: dict[str, Any], config: dict[str, Any], secrets: dict[str, Any], *, delivery_id: int
) -> int:
    body = json.dumps(
        {
            "event": payload["event"],
            "alert": payload["alert"],
            "suppressed": payload.get("suppressed"),
            "subject": payload["subject"],
            "text": payload["text"],
            "url": payload.get("url"),
            "delivery_id": delivery_id,
        },
        sort_keys=True,
    ).encode()
    timestamp = str(int(time.time()))
    headers = {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secrets["secret"], timestamp, body),
        DELIVERY_HEADER: str(delivery_id),
    }
    return post_json(secrets["url"], body, headers)
