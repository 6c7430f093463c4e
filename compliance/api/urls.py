from django.urls import path

from compliance.api import views

urlpatterns = [
    path("rules/", views.RuleList.as_view(), name="compliance-rule-list"),
    path("rules/<int:pk>/", views.RuleDetail.as_view(), name="compliance-rule-detail"),
    path("run/", views.ComplianceRun.as_view(), name="compliance-run"),
    path("runs/", views.ComplianceRunList.as_view(), name="compliance-run-list"),
]
