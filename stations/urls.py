"""Routes of this app's operator pages outside /api/stations/ (namespace "stations", shared with monitoring's
pages: see ``cms/urls.py``)."""

from django.urls import path

from stations import device_model_views, security_views, views

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
]
