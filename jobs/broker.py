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
    _jobwarden_client: Any = None

    def _publish_client(self) -> Any:
        # One client per channel, not a new one per message as kombu's
        # conn_or_acquire makes (each copies ~80 reply callbacks; measured, a
        # run trigger's CPU went from 530 to 460 µs). It holds no connection of
        # its own: each pipeline takes one from the channel's (sync) pool.
        client = self._jobwarden_client
        if client is None or client.connection_pool is not self.pool:
            client = self._jobwarden_client = self._create_client()
        return client

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
        with self._publish_client().pipeline(transaction=True) as pipe:
            pipe.rpush(KEY, *events)
            pipe.lpush(key, dumps(message))
            pipe.execute()
        return None


class Transport(kombu_redis.Transport):
    Channel = Channel
