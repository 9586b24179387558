"""Portal routes of this app: the public connector pages (/c/<station>/<connector>/, the QR codes' target),
starting and stopping from them, the operators' QR sheets and reservations."""

from django.urls import path

from sessions import operator_views, views

app_name = "charging"

urlpatterns = [
    path("c/<str:ocpp_id>/<int:connector_id>/", views.connector_page, name="connector"),
    path("c/<str:ocpp_id>/<int:connector_id>/live/", views.connector_live, name="connector_live"),
    path("c/<str:ocpp_id>/<int:connector_id>/start/", views.connector_start, name="connector_start"),
    path("me/sessions/<int:pk>/stop/", views.session_stop, name="session_stop"),
    path("operator/sessions/", operator_views.session_list, name="operator_sessions"),
    path("operator/sessions/<int:pk>/", operator_views.session_detail, name="operator_session"),
    path("operator/qr/", views.qr_index, name="qr_index"),
    path("operator/qr/stations/<str:ocpp_id>/", views.qr_station, name="qr_station"),
    path("operator/qr/sites/<int:pk>/", views.qr_site, name="qr_site"),
    path("operator/reservations/", views.reservations, name="reservations"),
    path("operator/reservations/<int:pk>/cancel/", views.reservation_cancel_view, name="reservation_cancel"),
]
