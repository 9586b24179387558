"""REST API routes of the pki app: /api/stations/<id>/certificates/... and /api/pki/..."""

from django.urls import path

from pki.api import views

urlpatterns = [
    path("stations/<str:ocpp_id>/certificates/", views.StationCertificatesView.as_view(), name="station-certificates"),
    path(
        "stations/<str:ocpp_id>/certificates/installed/read/",
        views.InstalledCertificatesReadView.as_view(),
        name="station-certificates-read",
    ),
    path(
        "stations/<str:ocpp_id>/certificates/install/",
        views.CertificateInstallView.as_view(),
        name="station-certificates-install",
    ),
    path(
        "stations/<str:ocpp_id>/certificates/delete/",
        views.CertificateDeleteView.as_view(),
        name="station-certificates-delete",
    ),
    path(
        "stations/<str:ocpp_id>/certificates/renew/",
        views.CertificateRenewalView.as_view(),
        name="station-certificates-renew",
    ),
    path(
        "stations/<str:ocpp_id>/certificates/<str:serial_number>/deliver/",
        views.CertificateDeliverView.as_view(),
        name="station-certificate-deliver",
    ),
    path("pki/authority/", views.AuthorityView.as_view(), name="pki-authority"),
    path("pki/certificates/", views.IssuedCertificateList.as_view(), name="pki-certificates"),
    path(
        "pki/certificates/<str:serial_number>/revoke/",
        views.CertificateRevokeView.as_view(),
        name="pki-certificate-revoke",
    ),
]
