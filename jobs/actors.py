"""Who did something, and through which door. Services take an Actor instead
of a request so every entry point (admin, API, CLI, system) records alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Actor:
    name: str  # username or "system"
    source: str  # AuditSource value: admin / api / cli / system / code
    user_id: int | None = None
    client_ip: str | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls(name="system", source="system")

    @classmethod
    def for_user(cls, user: Any, source: str, client_ip: str | None = None) -> Actor:
        if user is None or not getattr(user, "is_authenticated", False):
            return cls(name="anonymous", source=source, client_ip=client_ip)
        return cls(name=user.get_username(), source=source, user_id=user.pk, client_ip=client_ip)

    @classmethod
    def cli(cls, username: str | None = None) -> Actor:
        import getpass

        return cls(name=username or f"cli:{getpass.getuser()}", source="cli")
