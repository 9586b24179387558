"""Routes of this app's operator pages outside /api/stations/ (namespace "stations", shared with monitoring's
pages: see ``cms/urls.py``)."""

from django.urls import path

from stations import device_model_views, network_views, security_views, views

portal = [
    path("operator/live/", views.live_board, name="live"),
    path("operator/live/rows/", views.live_board_rows, name="live-rows"),
    path("operator/stations/<str:ocpp_id>/", views.station_detail, name="station"),
    path("operator/stations/<str:ocpp_id>/messages/", views.station_messages, name="station-messages"),
    path(
        "operator/stations/<str:ocpp_id>/device-model/",
        device_model_views.station_device_model,
        name="station-device-model",
    ),
    path(
        "operator/stations/<str:ocpp_id>/security-profile/",
        security_views.station_security_profile,
        name="station-security-profile",
    ),
    path(
        "operator/stations/<str:ocpp_id>/password-rotation/",
        security_views.station_password_rotation,
        name="station-password-rotation",
    ),
    path("operator/stations/", network_views.station_list, name="stations"),
    path("operator/stations/<str:ocpp_id>/edit/", network_views.station_edit, name="station-edit"),
    path("operator/stations/<str:ocpp_id>/credentials/", network_views.station_credentials, name="station-credentials"),
    # Beside /operator/stations/, not in it: any name there may be a station's id.
    path("operator/new-station/", network_views.station_register, name="station-register"),
    path("operator/station-actions/", network_views.station_bulk, name="station-bulk"),
    path("operator/sites/", network_views.site_list, name="sites"),
    path("operator/sites/new/", network_views.site_form, name="site-new"),
    path("operator/sites/<int:pk>/edit/", network_views.site_form, name="site-edit"),
]
