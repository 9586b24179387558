"""The operator's money pages under /operator/: tariffs, drivers and payments."""

from django.urls import path

from billing import driver_views, issuer_views, tariff_views

app_name = "money"

urlpatterns = [
    path("tariffs/", tariff_views.tariffs, name="tariffs"),
    path("tariffs/new/", tariff_views.tariff_create, name="tariff-new"),
    path("tariffs/<int:pk>/", tariff_views.tariff_edit, name="tariff-edit"),
    path("drivers/", driver_views.drivers, name="drivers"),
    path("drivers/<int:pk>/", driver_views.driver_detail, name="driver"),
    path("payments/", driver_views.payments, name="payments"),
    path("legal-details/", issuer_views.issuers, name="issuers"),
    path("legal-details/<int:pk>/", issuer_views.issuer_edit, name="issuer"),
]
