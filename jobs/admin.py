"""Django admin for jobs, runs and the audit trail.

Every write goes through jobs.services (the same validation, permission
check, schedule sync and audit record as the API and CLI): the job form
validates with jobs.specs and maps errors onto its fields; save/delete and
the actions call the services with the admin user as the actor.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django_celery_beat import models as beat_models

from jobs.actors import Actor
from jobs.api.serializers import human_schedule
from jobs.errors import JobwardenError
from jobs.models import AuditEvent, Job, JobRun
from jobs.secrets import masked_config, masked_parameters
from jobs.specs import SPEC_FIELDS, validate_spec
from jobs.specs.fields import DISABLED_FIELDS, MONITORING_FIELDS, POLICY_FIELDS, RUN_STATE_FIELDS

# django-celery-beat's rows are Jobwarden's internal mirror of the jobs
# (jobs.services.scheduling). Its admin would edit them behind the services'
# back (no audit, no role check beyond the model's), and its `run_tasks` action
# sends any task by name with any arguments. The Job admin is the one door.
for _model in (
    beat_models.PeriodicTask,
    beat_models.CrontabSchedule,
    beat_models.IntervalSchedule,
    beat_models.SolarSchedule,
    beat_models.ClockedSchedule,
):
    with suppress(admin.sites.NotRegistered):
        admin.site.unregister(_model)

LIVE_STATE = (
    "source",
    "schedule_type",
    "human_schedule_text",
    "next_run_at",
    *DISABLED_FIELDS,
    # Not success_rate: it is derived from the counters shown beside it.
    *(f for f in RUN_STATE_FIELDS if f != "success_rate"),
)


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_user(request.user, "admin", request.META.get("REMOTE_ADDR"))


class JobAdminForm(forms.ModelForm):
    """Validates through jobs.specs, so the admin refuses exactly what every
    other door refuses, with the message on the field that is wrong."""

    request: HttpRequest | None = None  # set by JobAdmin.get_form

    class Meta:
        model = Job
        fields = [f for f in SPEC_FIELDS]
        help_texts = {
            "cron": "5-field cron or a macro (@hourly, @daily ...); empty = manual only",
            "timezone": "IANA name, e.g. Europe/Prague",
            "run_at": "for a one-off job (leave cron empty)",
            "timeout": "seconds",
            "retry_delay": "seconds before the first retry",
            "retry_max_delay": "seconds",
            "grace_time": "seconds a scheduled fire may be late",
            "config": "kind-specific settings; secrets show as ******** and are kept if left so",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # Shown masked like every read; a mask saved back keeps the stored
            # value (jobs.specs restores it), and an untouched field is no change.
            self.initial["config"] = masked_config(self.instance)
            self.initial["parameters"] = masked_parameters(self.instance.parameters)

    def spec_data(self) -> dict[str, Any]:
        data = {f: self.cleaned_data.get(f) for f in self.fields if f in SPEC_FIELDS}
        if "owner" in data:
            data["owner"] = data["owner"].get_username() if data["owner"] else None
        if "cron" in data:
            data["cron"] = data["cron"] or None
        if data.get("run_at") is not None:
            data["run_at"] = data["run_at"].isoformat()
        return data

    def spec_changes(self) -> dict[str, Any]:
        data = self.spec_data()
        return {f: data[f] for f in self.changed_data if f in data}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        from jobs.services.jobs import check_definition_permission

        existing = Job.objects.filter(pk=self.instance.pk).first() if self.instance.pk else None
        try:
            if existing is None:
                spec = validate_spec(self.spec_data(), validate_kind=False)
            else:
                spec = validate_spec(
                    self.spec_changes(), existing=existing, partial=True, validate_kind=False
                )
            if self.request is not None:
                check_definition_permission(_actor(self.request), spec, existing)
            spec.check_kind()
        except JobwardenError as exc:
            placed = False
            for field, message in (exc.fields or {}).items():
                if field in self.fields and field not in self.errors:
                    self.add_error(field, message)
                    placed = True
            if not placed:
                self.add_error(None, exc.message)
        return cleaned


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    form = JobAdminForm
    list_display = (
        "name",
        "enabled",
        "schedule",
        "next_run_at",
        "status",
        "execution_count",
        "success_count",
        "failure_count",
        "consecutive_failures",
        "last_run_at",
    )
    list_filter = ("enabled", "status", "kind", "schedule_type", "source", "overlap")
    search_fields = ("name", "display_name", "description", "target")
    list_select_related = ("owner",)
    actions = ["enable_jobs", "disable_jobs", "trigger_now", "retry_failed"]
    readonly_fields = LIVE_STATE
    fieldsets = (
        (None, {"fields": ("name", "display_name", "description", "enabled", "tags", "owner")}),
        (
            "What runs",
            {
                "fields": (
                    "kind",
                    "target",
                    "config",
                    "parameters",
                    "parameter_queries",
                    "overridable_parameters",
                )
            },
        ),
        ("Schedule", {"fields": ("cron", "timezone", "run_at")}),
        ("Execution policy", {"fields": POLICY_FIELDS}),
        ("Monitoring and notifications", {"fields": MONITORING_FIELDS}),
        ("Live state", {"fields": LIVE_STATE}),
    )

    @admin.display(description="schedule")
    def schedule(self, job: Job) -> str:
        return human_schedule(job)

    @admin.display(description="schedule (readable)")
    def human_schedule_text(self, job: Job) -> str:
        return human_schedule(job) if job.pk else "-"

    def get_readonly_fields(self, request: HttpRequest, obj: Job | None = None):
        # A job is known by its name everywhere (runs, audit, beat): no renames.
        return (*LIVE_STATE, "name") if obj is not None else LIVE_STATE

    def get_fieldsets(self, request: HttpRequest, obj: Job | None = None):
        if obj is None:  # nothing to show yet
            return self.fieldsets[:-1]
        return self.fieldsets

    def get_form(
        self, request: HttpRequest, obj: Job | None = None, change: bool = False, **kwargs: Any
    ):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"request": request})

    # --- writes go through the services --------------------------------------------

    def save_model(self, request: HttpRequest, obj: Job, form: JobAdminForm, change: bool) -> None:
        from jobs.services.jobs import job_create, job_update

        if change:
            job = job_update(obj.name, form.spec_changes(), actor=_actor(request))
        else:
            job = job_create(form.spec_data(), actor=_actor(request))
        # The admin goes on with `obj` (log entry, redirect): make it the saved row.
        obj.pk = job.pk
        obj._state.adding = False

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # no related objects are edited here; the service saved everything

    def delete_model(self, request: HttpRequest, obj: Job) -> None:
        from jobs.services.jobs import job_delete

        try:
            job_delete(obj.name, actor=_actor(request), reason="deleted in the admin")
        except JobwardenError as exc:
            self.message_user(request, exc.message, messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        for job in list(queryset):
            self.delete_model(request, job)

    # --- actions --------------------------------------------------------------------

    def has_trigger_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jobs.trigger_job")

    def _each(self, request: HttpRequest, queryset: QuerySet[Job], call, done: str) -> None:
        ok, failed = [], []
        for job in queryset.order_by("name"):
            try:
                call(job)
                ok.append(job.name)
            except JobwardenError as exc:
                failed.append(exc.message)
        if ok:
            self.message_user(request, f"{done}: {', '.join(ok)}", messages.SUCCESS)
        for message in failed:
            self.message_user(request, message, messages.ERROR)

    @admin.action(description="Enable selected jobs", permissions=["trigger"])
    def enable_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        from jobs.services.jobs import job_enable

        actor = _actor(request)
        self._each(request, queryset, lambda j: job_enable(j.name, actor=actor), "Enabled")

    @admin.action(description="Disable selected jobs", permissions=["trigger"])
    def disable_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        from jobs.services.jobs import job_disable

        actor = _actor(request)
        reason = f"disabled in the admin by {actor.name}"
        self._each(
            request, queryset, lambda j: job_disable(j.name, actor=actor, reason=reason), "Disabled"
        )

    @admin.action(description="Trigger selected jobs now", permissions=["trigger"])
    def trigger_now(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        from jobs.services.runs import run_trigger

        actor = _actor(request)
        self._each(
            request,
            queryset,
            lambda j: run_trigger(
                j.name, actor=actor, trigger="manual", reason="triggered in the admin"
            ),
            "Queued a run of",
        )

    @admin.action(
        description="Retry last failed run (reset health, re-enable if auto-disabled)",
        permissions=["trigger"],
    )
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        from monitoring.services import run_retry_last_failed

        actor = _actor(request)
        self._each(
            request,
            queryset,
            lambda j: run_retry_last_failed(
                j.name, actor=actor, trigger="manual", reason="retried in the admin"
            ),
            "Retried the last failed run of",
        )


def _pre(text: str) -> str:
    if not text:
        return "-"
    return format_html(
        '<pre style="white-space: pre-wrap; max-height: 40em; overflow: auto">{}</pre>', text
    )


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    """Read-only: a run's record is written by the run path alone."""

    list_display = (
        "id",
        "job",
        "status",
        "trigger",
        "triggered_by",
        "attempt",
        "queued_at",
        "started_at",
        "duration",
        "progress",
        "worker",
    )
    list_filter = ("status", "trigger", ("job", admin.RelatedOnlyFieldListFilter), "queued_at")
    date_hierarchy = "queued_at"
    search_fields = ("=id", "job__name", "error", "triggered_by")
    list_select_related = ("job",)
    actions = ["cancel_runs"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "job",
                    "status",
                    "trigger",
                    "triggered_by",
                    "reason",
                    "attempt",
                    "first_attempt",
                    "parameters",
                )
            },
        ),
        (
            "Timing",
            {
                "fields": (
                    "scheduled_for",
                    "queued_at",
                    "started_at",
                    "finished_at",
                    "duration_ms",
                    "heartbeat_at",
                    "cancel_requested_at",
                    "worker",
                    "pid",
                )
            },
        ),
        (
            "Outcome",
            {
                "fields": (
                    "progress",
                    "progress_message",
                    "result",
                    "error",
                    "output_text",
                    "output_truncated",
                    "stderr_text",
                    "exit_code",
                    "traceback_text",
                    "metadata",
                )
            },
        ),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: JobRun | None = None):
        return [f for fs in self.fieldsets for f in fs[1]["fields"]]

    @admin.display(description="duration")
    def duration(self, run: JobRun) -> str:
        return "-" if run.duration_ms is None else f"{run.duration_ms / 1000:.2f}s"

    @admin.display(description="output")
    def output_text(self, run: JobRun) -> str:
        return _pre(run.output)

    @admin.display(description="stderr")
    def stderr_text(self, run: JobRun) -> str:
        return _pre(run.stderr)

    @admin.display(description="traceback")
    def traceback_text(self, run: JobRun) -> str:
        return _pre(run.traceback)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: JobRun | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: JobRun | None = None) -> bool:
        return False  # retention is the cleanup job's, so history is never half-deleted

    def has_trigger_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jobs.trigger_job")

    @admin.action(description="Cancel selected runs", permissions=["trigger"])
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[JobRun]) -> None:
        from jobs.services.runs import run_cancel

        actor = _actor(request)
        done, failed = 0, []
        for run in queryset:
            try:
                run_cancel(str(run.pk), actor=actor, reason="cancelled in the admin")
                done += 1
            except JobwardenError as exc:
                failed.append(exc.message)
        if done:
            self.message_user(request, f"Cancel requested for {done} run(s)", messages.SUCCESS)
        for message in failed:
            self.message_user(request, message, messages.ERROR)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The trail is append-only: view and search, nothing else."""

    list_display = ("at", "actor", "source", "action", "target", "job_name", "reason")
    list_filter = ("action", "source", "at")
    search_fields = ("actor", "target", "job_name", "reason")
    date_hierarchy = "at"
    readonly_fields = (
        "at",
        "actor",
        "actor_user",
        "source",
        "client_ip",
        "action",
        "target_type",
        "target",
        "job_name",
        "changes",
        "reason",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False
