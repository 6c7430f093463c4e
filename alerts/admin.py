"""Admin: alerts (filters, acknowledge/resolve actions, deliveries inline),
channels (secrets write-only), deliveries. Actions call the services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from alerts import services
from alerts.models import Alert, Channel, Delivery, DeliveryAttempt
from alerts.services.channels import masked_secrets
from jobs.actors import Actor
from jobs.errors import JobwardenError


def _actor(request) -> Actor:
    return Actor.for_user(request.user, "admin", request.META.get("REMOTE_ADDR"))


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = [
        "created_at",
        "kind",
        "target",
        "status",
        "attempts",
        "sent_at",
        "next_attempt_at",
        "last_error",
    ]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "severity",
        "status",
        "type",
        "title",
        "job_name",
        "area",
        "occurrences",
        "created_at",
        "escalated_at",
    ]
    list_filter = ["status", "severity", "type", "area", "created_at"]
    search_fields = ["title", "message", "job_name", "area"]
    date_hierarchy = "created_at"
    inlines = [DeliveryInline]
    actions = ["acknowledge", "resolve"]
    readonly_fields = [f.name for f in Alert._meta.fields]

    def has_add_permission(self, request):
        return False  # alerts are raised by the system

    def has_change_permission(self, request, obj=None):
        return False  # lifecycle changes go through the actions (audited)

    @admin.action(description="Acknowledge selected alerts", permissions=["acknowledge"])
    def acknowledge(self, request, queryset):
        done = 0
        for alert in queryset:
            try:
                services.alert_acknowledge(alert.pk, actor=_actor(request))
                done += 1
            except JobwardenError as exc:
                self.message_user(request, exc.message, messages.WARNING)
        self.message_user(request, f"{done} alert(s) acknowledged")

    @admin.action(description="Resolve selected alerts", permissions=["acknowledge"])
    def resolve(self, request, queryset):
        done = 0
        for alert in queryset:
            try:
                services.alert_resolve(
                    alert.pk,
                    actor=_actor(request),
                    notes=f"Resolved from the admin by {request.user}",
                )
                done += 1
            except JobwardenError as exc:
                self.message_user(request, exc.message, messages.WARNING)
        self.message_user(request, f"{done} alert(s) resolved")

    def has_acknowledge_permission(self, request):
        return request.user.has_perm("alerts.acknowledge_alert")


class ChannelForm(forms.ModelForm):
    new_secrets = forms.JSONField(
        required=False,
        help_text='Write-only. Slack/Teams: {"url": "..."}; webhook: {"url": "...", "secret": "..."}. '
        "Leave empty to keep the stored secrets.",
    )

    class Meta:
        model = Channel
        fields = ["name", "kind", "enabled", "config", "min_severity", "is_default", "escalation"]


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ["name", "kind", "enabled", "min_severity", "is_default", "escalation"]
    list_filter = ["kind", "enabled", "is_default", "escalation"]
    readonly_fields = ["stored_secrets"]
    actions = ["send_test"]

    @admin.display(description="stored secrets")
    def stored_secrets(self, obj):
        return masked_secrets(obj) if obj.pk else {}

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in ChannelForm.Meta.fields}
        if form.cleaned_data.get("new_secrets"):
            data["secrets"] = form.cleaned_data["new_secrets"]
        try:
            saved = (
                services.channel_update(obj.pk, data, actor=_actor(request))
                if change
                else services.channel_create(data, actor=_actor(request))
            )
        except JobwardenError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk = saved.pk

    def has_add_permission(self, request):
        return self.has_manage_channels_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.has_manage_channels_permission(request)

    def has_manage_channels_permission(self, request):
        return request.user.has_perm("alerts.manage_channels")

    # The API twin (POST /channels/{id}/test/) needs alerts.manage_channels.
    @admin.action(description="Send a test notification", permissions=["manage_channels"])
    def send_test(self, request, queryset):
        for channel in queryset:
            delivery = services.channel_test(channel.pk, actor=_actor(request))
            level = messages.SUCCESS if delivery.status == "sent" else messages.ERROR
            self.message_user(
                request, f"{channel.name}: {delivery.status} {delivery.last_error}", level
            )


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["number", "at", "ok", "response_status", "duration_ms", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "alert", "kind", "target", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["status", "kind", "created_at"]
    inlines = [DeliveryAttemptInline]
    readonly_fields = [f.name for f in Delivery._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
