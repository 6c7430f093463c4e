"""Redis clients for leases, cancel flags, circuit state and the run journal.

get_redis: one pooled client per process. redis-py's pool notices a fork and
reconnects, so a client made before the prefork pool started is still safe
in the children. get_held_redis: one held connection per process, for the
commands every run makes; it is never shared across a fork."""

from __future__ import annotations

import os
import threading
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


_held: dict[tuple[str, int], redis.Redis] = {}
_held_lock = threading.Lock()


def get_held_redis() -> redis.Redis:
    """A client that holds one connection, for a process's per-run commands
    (a run's claim and end): no trip through the pool per command, which
    cost a third of each call. One per process and URL, made in the process
    that uses it, since a held connection must never cross a fork. Its
    commands are serialized by redis-py's own lock."""
    key = (settings.REDIS_URL, os.getpid())
    client = _held.get(key)
    if client is None:
        with _held_lock:
            client = _held.get(key)
            if client is None:
                client = redis.Redis(
                    connection_pool=get_redis().connection_pool, single_connection_client=True
                )
                _held[key] = client
    return client
