"""Admin: compliance rules (edits through the services, audited) and the demo data."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from compliance import services
from compliance.models import Product, Rule, Stock, Warehouse
from jobs.actors import Actor
from jobs.errors import JobwardenError


class RuleForm(forms.ModelForm):
    connection = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="ODBC connection string (write-only; leave empty to keep the stored one)",
    )

    class Meta:
        model = Rule
        fields = [
            "name",
            "area",
            "description",
            "enabled",
            "database",
            "query",
            "params",
            "row_limit",
            "timeout",
        ]


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleForm
    list_display = [
        "name",
        "kind",
        "area",
        "enabled",
        "database",
        "row_limit",
        "timeout",
        "updated_at",
    ]
    list_filter = ["kind", "area", "enabled"]
    search_fields = ["name", "description", "query"]
    actions = ["run_selected"]

    def save_model(self, request, obj, form, change):
        actor = Actor.for_user(request.user, "admin", request.META.get("REMOTE_ADDR"))
        data = {f: form.cleaned_data[f] for f in RuleForm.Meta.fields if f in form.cleaned_data}
        if obj.kind == "python" and change:
            data = {
                k: v
                for k, v in data.items()
                if k in ("area", "description", "enabled", "row_limit")
            }
        if form.cleaned_data.get("connection"):
            data["connection"] = form.cleaned_data["connection"]
        if data.get("database") == "" and data.get("connection"):
            data.pop("database")
        try:
            saved = (
                services.rule_update(obj.pk, data, actor=actor)
                if change
                else services.rule_create(data, actor=actor)
            )
        except JobwardenError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk = saved.pk

    def has_add_permission(self, request):
        return request.user.has_perm("compliance.manage_rules")

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("compliance.manage_rules")

    def has_trigger_permission(self, request):
        return request.user.has_perm("jobs.trigger_job")

    # The API twin (POST /compliance/run/) needs jobs.trigger_job.
    @admin.action(description="Run the selected rules now", permissions=["trigger"])
    def run_selected(self, request, queryset):
        actor = Actor.for_user(request.user, "admin", request.META.get("REMOTE_ADDR"))
        try:
            run = services.compliance_run(
                actor=actor, trigger="manual", rules=[r.name for r in queryset]
            )
        except JobwardenError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(request, f"compliance run {run.pk} queued")


admin.site.register(Warehouse, list_display=["code", "name", "accepts"])
admin.site.register(Product, list_display=["sku", "name", "type", "active"], list_filter=["type"])
admin.site.register(
    Stock, list_display=["warehouse", "product", "quantity"], list_filter=["warehouse"]
)
