from django.urls import path

from monitoring.api import views

urlpatterns = [
    path("jobs/<slug:name>/stats/", views.JobStats.as_view(), name="job-stats"),
    path("jobs/<slug:name>/health/", views.JobHealth.as_view(), name="job-health"),
    path("jobs/<slug:name>/schedule/", views.JobSchedule.as_view(), name="job-schedule"),
    path("health/", views.HealthList.as_view(), name="health-list"),
    path("status/", views.SystemStatus.as_view(), name="system-status"),
    path("audit/", views.AuditList.as_view(), name="audit-list"),
    path("runs/cleanup/", views.RunsCleanup.as_view(), name="runs-cleanup"),
]
