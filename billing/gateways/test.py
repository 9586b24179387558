"""The test payment method of demos and trials: "Test payment (demo) — no real money".

Every charge and refund succeeds at once and no money moves anywhere, so the whole phone flow (top up,
charge, receipt) works without a payment provider's keys. It is offered only in demo mode (the demo
network is seeded) or where CMS_BILLING_TEST_PAYMENTS says so; never silently in production.
"""

from billing.app_settings import app_settings
from billing.gateways.base import PaymentGateway
from billing.gateways.interface import GatewayResponse, PaymentData, RefundData, ResponseStatus

LABEL = "Test payment (demo) — no real money"


def test_payments_enabled() -> bool:
    """CMS_BILLING_TEST_PAYMENTS when set (true or false); otherwise only while the demo network is seeded."""
    if app_settings.TEST_PAYMENTS is not None:
        return app_settings.TEST_PAYMENTS
    from django.apps import apps

    return apps.is_installed("demo") and apps.get_model("demo", "DemoNetwork").objects.exists()


class TestPaymentGateway(PaymentGateway):
    name = "test"
    label = LABEL

    def charge(self, data: PaymentData) -> GatewayResponse:
        return GatewayResponse(status=ResponseStatus.SUCCEEDED, reference=f"test:{data.idempotency_key}")

    def refund(self, data: RefundData) -> GatewayResponse:
        return GatewayResponse(status=ResponseStatus.SUCCEEDED, reference=f"test:{data.idempotency_key}")
