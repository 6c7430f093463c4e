"""API tokens (django-rest-knox): create, revoke. All writes, audited.

The database keeps only a SHA-512 digest of each key, so a key is shown once,
when it is created, and a leaked database or backup holds no usable token.
Every token expires (API_TOKEN_TTL by default, at most API_TOKEN_MAX_TTL).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken

from config.env import parse_duration
from jobs.actors import Actor
from jobs.errors import Conflict, NotFound, ValidationError
from jobs.services.audit import audit_record


class IssuedToken(NamedTuple):
    key: str  # the only time the key exists outside the caller's hands
    expires_at: datetime


def token_create(
    username: str, *, actor: Actor, rotate: bool = False, expires: str | float | None = None
) -> IssuedToken:
    """Create the API token of `username`; return its key and expiry.

    A user has one live token: with `rotate` the existing ones are revoked
    (they stop working at once), without it a live token is a Conflict.
    Expired tokens are deleted on the way. `expires` is a duration (seconds,
    or 30d, 12h …; default API_TOKEN_TTL, at most API_TOKEN_MAX_TTL).
    Transactional; audited (token.create / token.rotate) without the key.
    Raises NotFound, ValidationError, Conflict."""
    ttl = _ttl(expires)
    user = _active_user(username)
    with transaction.atomic():
        # The user's row is the lock: two concurrent creates cannot both see
        # "no live token" (knox allows many tokens per user; we keep one).
        type(user)._default_manager.select_for_update().filter(pk=user.pk).first()
        tokens = AuthToken.objects.filter(user=user)
        tokens.filter(expiry__lte=timezone.now()).delete()
        live = tokens.exists()  # what is left has not expired
        if live and not rotate:
            raise Conflict(
                f"user {username!r} already has a token; use --rotate to replace it",
                fields={"user": "has a token"},
                code="token_exists",
            )
        if live:
            tokens.delete()
        row, key = AuthToken.objects.create(user=user, expiry=ttl)
        audit_record(
            actor=actor,
            action="token.rotate" if live else "token.create",
            target_type="user",
            target=user.get_username(),
            changes={"expiry": [None, row.expiry.isoformat()]},
        )
    return IssuedToken(key, row.expiry)


def token_revoke(digest: str, *, actor: Actor) -> None:
    """Delete one token (it stops working at once). Audited. Raises NotFound."""
    with transaction.atomic():
        row = AuthToken.objects.select_related("user").filter(digest=digest).first()
        if row is None:
            raise NotFound("unknown token", fields={"token": "not found"})
        label = token_label(row)
        row.delete()
        audit_record(
            actor=actor,
            action="token.revoke",
            target_type="user",
            target=row.user.get_username(),
            changes={"token": [label, None]},
        )


def token_label(row: AuthToken) -> str:
    """A short, non-secret name for a token: the start of its digest."""
    return row.digest[:12]


def _ttl(expires: str | float | None) -> timedelta:
    longest = settings.API_TOKEN_MAX_TTL
    if expires is None:
        return timedelta(seconds=min(settings.API_TOKEN_TTL, longest))
    try:
        seconds = parse_duration(expires)
    except ValueError as exc:
        raise ValidationError(f"expires: {exc}", fields={"expires": str(exc)}) from None
    if not 60 <= seconds <= longest:
        message = f"must be between 1 minute and {longest / 86400:g} days (API_TOKEN_MAX_TTL)"
        raise ValidationError(f"expires: {message}", fields={"expires": message})
    return timedelta(seconds=seconds)


def _active_user(username: str) -> Any:
    user_model = get_user_model()
    user = user_model._default_manager.filter(**{str(user_model.USERNAME_FIELD): username}).first()
    if user is None:
        raise NotFound(f"unknown user {username!r}", fields={"user": "not found"})
    if not user.is_active:
        raise ValidationError(f"user {username!r} is inactive", fields={"user": "inactive"})
    return user
