"""One Redis client per process for leases, cancel flags and circuit state.

redis-py's pool notices a fork and reconnects, so a client made before the
prefork pool started is still safe in the children."""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30
    )


def get_redis() -> redis.Redis:
    return _client(settings.REDIS_URL)
