"""Payment gateways: one provider interface (``base.PaymentGateway``), one class per provider."""

from billing.gateways.base import PaymentGateway


def get_gateway(method: str) -> PaymentGateway:
    """The gateway for a payment method (``billing.models.PaymentMethod``)."""
    from billing.gateways.stripe import StripeGateway
    from billing.gateways.test import TestPaymentGateway, test_payments_enabled
    from billing.gateways.wallet import WalletGateway

    gateways = {"wallet": WalletGateway, "card": StripeGateway}
    if test_payments_enabled():
        gateways["test"] = TestPaymentGateway
    if method not in gateways:
        raise ValueError(f"No gateway for payment method {method!r}.")
    return gateways[method]()
