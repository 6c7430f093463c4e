"""Security records in the admin. API tokens: listed without their secret, revoked through the
service (audited). They are created with `manage.py jobs token create`, the
one door that shows a key, once."""

from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from knox.models import AuthToken

from config.api import client_ip
from jobs.actors import Actor
from monitoring.tokens import token_label, token_revoke

# knox's own admin lists each digest and can create keys outside the service.
if admin.site.is_registered(AuthToken):
    admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class AuthTokenAdmin(admin.ModelAdmin):
    """View and revoke only; no field of the key or its digest is shown."""

    list_display = ("label", "user", "created", "expiry", "expired")
    list_filter = ("expiry",)
    search_fields = ("user__username",)
    fields = ("label", "user", "created", "expiry")
    readonly_fields = fields
    ordering = ("-created",)

    @admin.display(description="token")
    def label(self, obj: AuthToken) -> str:
        return token_label(obj)

    @admin.display(boolean=True)
    def expired(self, obj: AuthToken) -> bool:
        return obj.expiry is not None and obj.expiry <= timezone.now()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # `manage.py jobs token create USER`

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: AuthToken) -> None:
        token_revoke(obj.digest, actor=_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AuthToken]) -> None:
        for digest in queryset.values_list("digest", flat=True):
            token_revoke(digest, actor=_actor(request))


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_user(request.user, "admin", client_ip(request))


# django-axes' lockout records: its one action (delete expired attempts)
# declares no permission; here it needs `axes.delete_accessattempt`, like
# every admin action needs its API twin's permission.
if admin.site.is_registered(AccessAttempt):
    admin.site.unregister(AccessAttempt)


@admin.register(AccessAttempt)
class GuardedAccessAttemptAdmin(AccessAttemptAdmin):
    actions = ["cleanup_expired_attempts"]

    @admin.action(description="Clean up expired attempts", permissions=["delete"])
    def cleanup_expired_attempts(self, request: HttpRequest, queryset: QuerySet) -> None:
        super().cleanup_expired_attempts(request, queryset)
