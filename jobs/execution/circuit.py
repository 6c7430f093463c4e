"""Per-host circuit breaker for HTTP jobs, shared by all workers through Redis.

After JOBS_HTTP_CIRCUIT_FAILURES consecutive transient failures against one
host:port the circuit opens for JOBS_HTTP_CIRCUIT_COOLDOWN: runs are recorded
as skipped instead of hammering a failing API (and risking a banned key).
After the cool-down one call goes through (half-open): success closes the
circuit, failure re-opens it for another cool-down.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from functools import lru_cache

import redis
from django.conf import settings

from jobs.execution.context import RunSkipped

log = logging.getLogger(__name__)
PREFIX = "jobwarden:circuit:"
# Failures a day apart are still "consecutive"; a week of silence forgets them.
KEY_TTL = 7 * 86400


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


class CircuitBreaker:
    def __init__(self, host_key: str):
        self.host_key = host_key
        self.key = PREFIX + host_key
        self.redis = _client(settings.REDIS_URL)
        self.threshold = settings.JOBS_HTTP_CIRCUIT_FAILURES
        self.cooldown = float(settings.JOBS_HTTP_CIRCUIT_COOLDOWN)

    def state(self) -> tuple[int, float]:
        """(consecutive failures, open until as epoch seconds or 0)."""
        data = self.redis.hgetall(self.key)
        return int(data.get(b"failures", 0)), float(data.get(b"open_until", 0))

    def check(self) -> None:
        """Raise RunSkipped while the circuit is open. A Redis outage does not
        stop jobs: the breaker is a protection, not a dependency."""
        try:
            failures, open_until = self.state()
        except redis.RedisError as exc:
            log.warning("circuit breaker unavailable for %s: %s", self.host_key, exc)
            return
        if open_until > time.time():
            until = datetime.fromtimestamp(open_until, UTC).isoformat(timespec="seconds")
            raise RunSkipped(
                f"circuit open for {self.host_key} after {failures} consecutive failures; calls resume after {until}"
            )

    def record_failure(self) -> int:
        try:
            failures = int(self.redis.hincrby(self.key, "failures", 1))
            pipe = self.redis.pipeline()
            if failures >= self.threshold:
                pipe.hset(self.key, "open_until", time.time() + self.cooldown)
            pipe.expire(self.key, KEY_TTL)
            pipe.execute()
            return failures
        except redis.RedisError as exc:
            log.warning("circuit breaker unavailable for %s: %s", self.host_key, exc)
            return 0

    def record_success(self) -> None:
        try:
            self.redis.delete(self.key)
        except redis.RedisError as exc:
            log.warning("circuit breaker unavailable for %s: %s", self.host_key, exc)
