"""Portal routes of the pki app (namespace "pki") and the CA's public files."""

from django.urls import path

from pki import views

app_name = "pki"
STATION = "operator/stations/<str:ocpp_id>/certificates/"

urlpatterns = [
    path("pki/crl.der", views.crl, {"encoding": "der"}, name="crl"),
    path("pki/crl.pem", views.crl, {"encoding": "pem"}, name="crl-pem"),
    path("pki/ca.pem", views.ca_certificate, name="ca-certificate"),
    path(STATION, views.station_certificates, name="station-certificates"),
    path(f"{STATION}read/", views.station_certificates_read, name="station-certificates-read"),
    path(f"{STATION}renew/", views.station_certificate_renewal, name="station-certificate-renewal"),
    path(f"{STATION}install/", views.station_certificate_install, name="station-certificate-install"),
    path(
        f"{STATION}installed/<int:installed_id>/delete/",
        views.station_certificate_delete,
        name="station-certificate-delete",
    ),
    path(
        f"{STATION}<str:serial_number>/deliver/", views.station_certificate_deliver, name="station-certificate-deliver"
    ),
    path(f"{STATION}<str:serial_number>/revoke/", views.station_certificate_revoke, name="station-certificate-revoke"),
]
