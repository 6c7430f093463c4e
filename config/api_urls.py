"""/api/v1/: each app contributes its own urls module."""

from django.urls import include, path

urlpatterns = [
    path("", include("jobs.api.urls")),
    path("", include("alerts.api.urls")),  # alerts, channels, compliance
]
