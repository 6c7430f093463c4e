from django.urls import include, path

from alerts.api import views

urlpatterns = [
    path("alerts/", views.AlertList.as_view(), name="alert-list"),
    path("alerts/stats/", views.AlertStats.as_view(), name="alert-stats"),
    path("alerts/<int:pk>/", views.AlertDetail.as_view(), name="alert-detail"),
    path(
        "alerts/<int:pk>/acknowledge/", views.AlertAcknowledge.as_view(), name="alert-acknowledge"
    ),
    path("alerts/<int:pk>/resolve/", views.AlertResolve.as_view(), name="alert-resolve"),
    path("channels/", views.ChannelList.as_view(), name="channel-list"),
    path("channels/<int:pk>/", views.ChannelDetail.as_view(), name="channel-detail"),
    path("channels/<int:pk>/test/", views.ChannelTest.as_view(), name="channel-test"),
    path("compliance/", include("compliance.api.urls")),
]
