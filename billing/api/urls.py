"""REST API routes of the billing app (under /api/billing/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from billing.api import views

router = SimpleRouter(use_regex_path=False)  # typed path converters: /jobs/abc/ is 404
router.register("billing/tariffs", views.TariffViewSet, basename="billing-tariff")
router.register("billing/invoices", views.InvoiceViewSet, basename="billing-invoice")
router.register("billing/dunning", views.DunningViewSet, basename="billing-dunning")

urlpatterns = [
    path("billing/wallet/", views.MyWalletView.as_view(), name="billing-wallet"),
    path("billing/can-start/", views.CanStartView.as_view(), name="billing-can-start"),
    path("billing/estimate/", views.EstimateView.as_view(), name="billing-estimate"),
    path("billing/sessions/<int:transaction_id>/cost/", views.SessionCostView.as_view(), name="billing-session-cost"),
    *router.urls,
]
