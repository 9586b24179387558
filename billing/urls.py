"""Portal routes of the billing app (under /billing/)."""

from django.urls import path

from billing import operator_views, views, webhooks

app_name = "billing"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("invoices/", views.invoice_list, name="invoices"),
    path("invoices/<int:pk>/pdf/", views.invoice_download, name="invoice-pdf"),
    path("profile/", views.profile_update, name="profile"),
    path("wallet/", views.wallet, name="wallet"),
    path("wallet/test-top-up/", views.wallet_test_top_up, name="wallet-test-top-up"),
    path("card/", views.card_setup, name="card"),
    path("subscription/", views.subscription, name="subscription"),
    path("operator/invoices/", operator_views.invoices, name="operator-invoices"),
    path("operator/dunning/", operator_views.dunning, name="dunning"),
    path("operator/wallets/", operator_views.wallet_credit, name="wallet-credit"),
    path("operator/dunning/<int:pk>/", operator_views.dunning_action, name="dunning-action"),
    path("stripe/webhook/", webhooks.stripe_webhook, name="stripe-webhook"),
]
