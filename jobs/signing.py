"""Run message signatures: a worker executes only runs Jobwarden recorded.

A run's message carries what the worker executes (the job, the parameters,
who triggered it); the worker does not read the run back. So anyone who can
put a message on the broker (a Redis client, Flower's task-apply API, a
shared broker) could otherwise run any job with parameters and a
`triggered_by` of their choosing, with no audit record. Jobwarden sends a
run's message only after the run is recorded (a row in PostgreSQL, or its
queued event in the run journal in the same MULTI/EXEC), from the values
recorded; the message is signed with an HMAC over the run's id, job, sent
time and those values, and the worker refuses (and logs) one whose
signature does not match.

Why an HMAC, not a lookup of the recorded run: it costs no I/O on either
side (a few microseconds of hashing), works with any broker, and holds
against a writer of the broker's Redis, who could equally write any
lookup key there. The key is derived from SECRET_KEY, which every process
that sends runs (web, beat, CLI, workers) already holds and which rotates
the Django way (SECRET_KEY_FALLBACKS still verify).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from functools import lru_cache
from typing import Any

from django.conf import settings

HEADER = "jobwarden_sig"  # a message header: a worker of an older release ignores it
_SALT = b"jobwarden.run-message.v1"
_canonical = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str
).encode


@lru_cache(maxsize=8)
def _key(secret: str) -> bytes:
    # Salted, so a signature is never a valid HMAC for anything else keyed
    # by SECRET_KEY (sessions, password resets).
    return hashlib.sha256(_SALT + secret.encode()).digest()


def _digest(key: bytes, run_id: str, job_id: Any, sent: Any, values: Any) -> str:
    data = f"{run_id}|{job_id}|{sent!r}|{_canonical(values)}".encode()
    return hmac.digest(key, data, "sha256")[:16].hex()  # 128 bits


def run_message_sign(run_id: str, job_id: int, sent: float, values: dict[str, Any]) -> str:
    """The signature a run's message carries (jobs.services.runs.enqueue)."""
    return _digest(_key(settings.SECRET_KEY), str(run_id), job_id, sent, values)


def run_message_valid(run_id: str, job_id: Any, sent: Any, values: Any, signature: Any) -> bool:
    """Does `signature` match this message, under the current key or a
    fallback? Constant-time; False for a missing or malformed signature."""
    if not isinstance(signature, str):
        return False
    for secret in (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ())):
        expected = _digest(_key(secret), str(run_id), job_id, sent, values)
        if hmac.compare_digest(expected, signature):
            return True
    return False
