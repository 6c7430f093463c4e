"""Per-job lease in Redis: enforces the overlap policy across all workers.

The holder renews it with each heartbeat; if the holder dies, the lease
expires JOBS_LEASE_TTL later, so a dead worker never blocks its job longer.
Renew and release check the token, so a late holder can never extend or drop
a lease that has since passed to another run.
"""

from __future__ import annotations

from django.conf import settings

from jobs.redis import get_redis

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


def _ttl_ms() -> int:
    return int(settings.JOBS_LEASE_TTL * 1000)


def lease_key(job_id: int) -> str:
    return f"jobwarden:lease:job:{job_id}"


def waiter_key(job_id: int) -> str:
    return f"jobwarden:lease:job:{job_id}:waiter"


def acquire(key: str, token: str) -> bool:
    """Take the lease if free (or already ours)."""
    client = get_redis()
    if client.set(key, token, nx=True, px=_ttl_ms()):
        return True
    return renew(key, token)


def renew(key: str, token: str) -> bool:
    return bool(get_redis().eval(_RENEW, 1, key, token, _ttl_ms()))


def release(key: str, token: str) -> bool:
    return bool(get_redis().eval(_RELEASE, 1, key, token))


def holder(key: str) -> str | None:
    value = get_redis().get(key)
    return value.decode() if value else None


def cancel_key(run_id: str) -> str:
    return f"jobwarden:cancel:{run_id}"


def request_cancel(run_id: str) -> None:
    # Kept past any job timeout so a running attempt always sees it.
    get_redis().set(cancel_key(run_id), "1", ex=int(settings.JOBS_MAX_TIMEOUT) + 3600)


def cancel_requested(run_id: str) -> bool:
    return bool(get_redis().exists(cancel_key(run_id)))
