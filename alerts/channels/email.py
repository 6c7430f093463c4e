"""E-mail through Django's mail framework (SMTP settings from EMAIL_*)."""

from __future__ import annotations

import smtplib
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.validators import validate_email

from alerts.channels import DeliveryError
from jobs.errors import ValidationError


def clean_addresses(value: Any, field: str = "recipients") -> list[str]:
    if isinstance(value, str):
        value = [v for v in (p.strip() for p in value.split(",")) if v]
    if not isinstance(value, list) or not value:
        raise ValidationError(
            f"{field} must be a non-empty list of e-mail addresses", fields={field: "required"}
        )
    for address in value:
        try:
            validate_email(address)
        except (DjangoValidationError, TypeError):
            raise ValidationError(
                f"{field}: {address!r} is not an e-mail address",
                fields={field: f"invalid address {address!r}"},
            ) from None
    return list(value)


def validate(
    config: dict[str, Any], secrets: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"recipients": clean_addresses(config.get("recipients"))}, {}


def send(
    payload: dict[str, Any], config: dict[str, Any], secrets: dict[str, Any], *, delivery_id: int
) -> None:
    backend = settings.ALERTS_EMAIL_BACKEND or None
    message = EmailMessage(
        subject=payload["subject"],
        body=payload["text"],
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=config["recipients"],
        headers={"X-Jobwarden-Delivery": str(delivery_id)},
        connection=get_connection(backend=backend, fail_silently=False),
    )
    try:
        message.send(fail_silently=False)
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
