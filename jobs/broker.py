"""Jobwarden's broker transport: kombu's Redis transport, plus one thing.

A run triggered from code is recorded as queued by an event in the run
journal (jobs.runlog), which must be in Redis before the run's message can
be delivered. Kombu sends a message with one command; sending the event
first cost a second round trip per run. With this transport the event and
the message go together, in one MULTI/EXEC: both or neither, in that order.

Everything else is kombu's Redis transport unchanged. It is used when the
broker is the journal's own Redis database (settings: CELERY_BROKER_TRANSPORT);
with any other broker, the event is appended before the message is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.utils.json import dumps

from jobs.errors import Unavailable
from jobs.redis import client_for, held_transaction

TRANSPORT = "jobs.broker:Transport"

_pending: ContextVar[tuple[str, ...]] = ContextVar("jobwarden_journal_events", default=())


@contextmanager
def journal_on_publish(*events: str) -> Iterator[None]:
    """Messages published inside this block carry `events` to the run
    journal in the same round trip (a retried publish carries them again;
    applying the journal is idempotent)."""
    token = _pending.set(events)
    try:
        yield
    finally:
        _pending.reset(token)


@lru_cache(maxsize=1)
def folds_journal() -> bool:
    """Is the broker this transport, on the journal's Redis database?"""
    from django.conf import settings

    return bool(
        getattr(settings, "CELERY_BROKER_TRANSPORT", None) == TRANSPORT
        and settings.CELERY_BROKER_URL == settings.REDIS_URL
    )


def shown_url(url: str) -> str:
    """A broker URL as it may be printed: the password hidden."""
    from kombu.utils.url import maybe_sanitize_url

    return str(maybe_sanitize_url(url))


def ensure_reachable() -> None:
    """Raise Unavailable, naming the broker (password hidden), unless it
    answers a PING. One round trip on a pooled connection: for the doors
    where a person triggers a run, so a broker that is down or mistyped is
    an error before the run is recorded, not a queued run that never starts."""
    from django.conf import settings
    from redis.exceptions import RedisError

    url = settings.CELERY_BROKER_URL
    try:
        client_for(url).ping()
    except RedisError as exc:
        raise Unavailable(
            f"cannot reach the broker at {shown_url(url)}: {exc} (nothing was saved)",
            fields={"broker": "unreachable"},
            code="broker_unavailable",
        ) from None


@lru_cache(maxsize=256)
def declare_for(queue: str) -> list | None:
    """The `declare` publish option for a run's message to `queue`: none to
    declare ([]) where declaring changes nothing, else Celery's default (None).

    On Redis a message to a direct queue goes straight onto the queue's list
    (kombu's anonymous exchange); declaring would only bind the queue again,
    and kombu's check whether it already did copies the queue and its exchange
    on every publish (measured: ~30 of a code trigger's ~420 us of CPU)."""
    from config.celery import app

    conn = app.connection_for_write()
    try:
        redis = conn.transport.driver_type == "redis"
    finally:
        conn.release()
    return [] if redis and app.amqp.queues[queue].exchange.type == "direct" else None


class Channel(kombu_redis.Channel):
    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        events = _pending.get()
        if not events:
            return super()._put(queue, message, **kwargs)
        from jobs.runlog import KEY

        if kwargs.get("_publish_batch") is not None or (self._expires and queue in self._expires):
            # kombu's own batching or queue expiry: the events go first,
            # then the message as kombu sends it
            with self.conn_or_acquire() as client:
                client.rpush(KEY, *events)
            return super()._put(queue, message, **kwargs)
        key = self._q_for_pri(queue, self._get_message_priority(message, reverse=False))
        # On the process's held connection to the journal's Redis, which is
        # this broker's (folds_journal), packed by hand: redis-py's pipeline
        # machinery cost a third of a code trigger's CPU.
        held_transaction((b"RPUSH", KEY, *events), (b"LPUSH", key, dumps(message)))
        return None


class Transport(kombu_redis.Transport):
    Channel = Channel
