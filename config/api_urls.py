"""/api/v1/: each app contributes its own urls module; the schema and the
interactive docs are public, everything else needs a login or a token."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("jobs.api.urls")),
    path("", include("monitoring.api.urls")),  # stats, health, status, schedule, audit, cleanup
    path("", include("alerts.api.urls")),  # alerts, channels, compliance
]
