"""/api/v1/jobs/… and /api/v1/runs/… (monitoring's endpoints: monitoring.api.urls)."""

from django.urls import path

from jobs.api import views

urlpatterns = [
    path("jobs/", views.JobList.as_view(), name="job-list"),
    path("jobs/<slug:name>/", views.JobDetail.as_view(), name="job-detail"),
    path("jobs/<slug:name>/enable/", views.JobEnable.as_view(), name="job-enable"),
    path("jobs/<slug:name>/disable/", views.JobDisable.as_view(), name="job-disable"),
    path("jobs/<slug:name>/trigger/", views.JobTrigger.as_view(), name="job-trigger"),
    path("jobs/<slug:name>/retry/", views.JobRetry.as_view(), name="job-retry"),
    path("jobs/<slug:name>/reset-health/", views.JobResetHealth.as_view(), name="job-reset-health"),
    path("jobs/<slug:name>/runs/", views.JobRuns.as_view(), name="job-runs"),
    path("runs/", views.RunList.as_view(), name="run-list"),
    path("runs/<uuid:run_id>/", views.RunDetail.as_view(), name="run-detail"),
    path("runs/<uuid:run_id>/cancel/", views.RunCancel.as_view(), name="run-cancel"),
]
