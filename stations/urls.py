"""Routes of this app outside /api/stations/: the operator portal pages (namespace "stations"), the stations'
download and upload URLs of remote maintenance, and the maintenance and alerts API (/api/...)."""

from django.urls import include, path

from monitoring.api import views as api_maintenance
from stations import views

portal = [
    path("operator/live/", views.live_board, name="live"),
    path("operator/live/rows/", views.live_board_rows, name="live-rows"),
    path("operator/stations/<str:ocpp_id>/", views.station_detail, name="station"),
    path("operator/stations/<str:ocpp_id>/messages/", views.station_messages, name="station-messages"),
    path("operator/stations/<str:ocpp_id>/maintenance/", views.station_command, name="station-command"),
    path("operator/alerts/", views.alert_list, name="alerts"),
    path("operator/alerts/<int:pk>/", views.alert_detail, name="alert"),
    path("operator/alerts/<int:pk>/acknowledge/", views.alert_acknowledge, name="alert-acknowledge"),
    path("operator/alerts/<int:pk>/resolve/", views.alert_resolve, name="alert-resolve"),
    path("operator/maintenance/", views.job_list, name="jobs"),
    path("operator/maintenance/new/", views.job_new, name="job-new"),
    path("operator/maintenance/<int:pk>/", views.job_detail, name="job"),
    path("operator/maintenance/<int:pk>/status/", views.job_status, name="job-status"),
    path("operator/maintenance/<int:pk>/cancel/", views.job_cancel, name="job-cancel"),
    path("operator/maintenance/files/<int:pk>/", views.diagnostics_download, name="diagnostics-file"),
    path("operator/firmware/", views.firmware_list, name="firmware"),
    # The stations' side: the token is the credential.
    path(
        "station-files/firmware/<str:ocpp_id>/<str:token>/<str:filename>", views.firmware_download,
        name="firmware-download",
    ),
    path("station-files/diagnostics/<str:ocpp_id>/<str:token>/", views.diagnostics_upload, name="diagnostics-upload"),
    path(
        "station-files/diagnostics/<str:ocpp_id>/<str:token>/<str:filename>", views.diagnostics_upload,
        name="diagnostics-upload-named",
    ),
]

urlpatterns = [
    path("api/", include(api_maintenance.urlpatterns)),
    path("", include((portal, "stations"))),
]
