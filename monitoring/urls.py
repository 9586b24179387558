"""Routes of monitoring's pages and of the stations' download and upload URLs of remote maintenance.

They are served in the "stations" URL namespace (``cms/urls.py``), under the names they had there:
``reverse("stations:alert", ...)``, ``stations:job``, ``stations:firmware-download`` and the others stay valid.
"""

from django.urls import path

from monitoring import station_views, views

portal = [
    path("operator/stations/<str:ocpp_id>/maintenance/", views.station_command, name="station-command"),
    path("operator/stations/<str:ocpp_id>/monitors/", station_views.station_monitors, name="station-monitors"),
    path(
        "operator/stations/<str:ocpp_id>/monitors/<str:action>/",
        station_views.station_monitors_command,
        name="station-monitors-command",
    ),
    path(
        "operator/stations/<str:ocpp_id>/display-messages/",
        station_views.station_display_messages,
        name="station-display-messages",
    ),
    path(
        "operator/stations/<str:ocpp_id>/display-messages/<str:action>/",
        station_views.station_display_messages_command,
        name="station-display-messages-command",
    ),
    path(
        "operator/stations/<str:ocpp_id>/customer-information/",
        station_views.station_customer_information,
        name="station-customer-information",
    ),
    path(
        "operator/stations/<str:ocpp_id>/customer-information/request/",
        station_views.station_customer_information_request,
        name="station-customer-information-request",
    ),
    path(
        "operator/stations/<str:ocpp_id>/customer-information/<int:pk>/",
        station_views.customer_information_detail,
        name="customer-information",
    ),
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
        "station-files/firmware/<str:ocpp_id>/<str:token>/<str:filename>",
        views.firmware_download,
        name="firmware-download",
    ),
    path("station-files/diagnostics/<str:ocpp_id>/<str:token>/", views.diagnostics_upload, name="diagnostics-upload"),
    path(
        "station-files/diagnostics/<str:ocpp_id>/<str:token>/<str:filename>",
        views.diagnostics_upload,
        name="diagnostics-upload-named",
    ),
]
