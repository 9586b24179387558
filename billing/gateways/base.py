"""The provider interface every payment gateway implements."""

from abc import ABC, abstractmethod

from billing.gateways.interface import GatewayResponse, PaymentData, RefundData


class PaymentGateway(ABC):
    """Called by ``billing.services.payments`` with the payment row locked; must not touch billing rows itself,
    except the wallet gateway, whose provider is our own ledger (and runs inside the caller's transaction)."""

    name: str

    @abstractmethod
    def charge(self, data: PaymentData) -> GatewayResponse:
        """Collect ``data.amount`` from the customer."""

    @abstractmethod
    def refund(self, data: RefundData) -> GatewayResponse:
        """Give back ``data.amount`` of an earlier successful charge."""
