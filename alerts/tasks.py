"""Thin Celery tasks: take an id, call one service."""

from __future__ import annotations

from celery import shared_task

from alerts.services.delivery import delivery_attempt


@shared_task(name="alerts.deliver", bind=True, acks_late=True, max_retries=None, ignore_result=True)
def deliver(self, delivery_id: int) -> None:
    """Send one delivery; on failure retry after the backoff the service
    computed. The attempt count lives in the database, not in the broker, so
    redelivery or a lost message cannot change how often a delivery is tried."""
    wait = delivery_attempt(delivery_id)
    if wait is not None:
        raise self.retry(countdown=wait)
