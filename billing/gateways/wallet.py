"""The prepaid wallet as a payment gateway: the provider is our own ledger."""

from billing.gateways.base import PaymentGateway
from billing.gateways.interface import GatewayResponse, PaymentData, RefundData, ResponseStatus


class WalletGateway(PaymentGateway):
    name = "wallet"

    def charge(self, data: PaymentData) -> GatewayResponse:
        from billing.services.wallet import InsufficientFunds, WrongCurrency, wallet_post

        try:
            entry = wallet_post(
                user_id=data.customer.user_id,
                amount=-data.amount,
                currency=data.currency,
                kind="payment",
                reference=f"payment:{data.payment_id}",
                description=data.description,
                allow_negative=False,
            )
        except InsufficientFunds as exc:
            return GatewayResponse(
                status=ResponseStatus.FAILED, error_code="insufficient_funds", error_message=str(exc)
            )
        except WrongCurrency as exc:
            return GatewayResponse(
                status=ResponseStatus.FAILED, error_code="currency_mismatch", error_message=str(exc), retryable=False
            )
        return GatewayResponse(status=ResponseStatus.SUCCEEDED, reference=entry.reference)

    def refund(self, data: RefundData) -> GatewayResponse:
        from billing.services.wallet import wallet_post

        entry = wallet_post(
            user_id=data.customer.user_id,
            amount=data.amount,
            currency=data.currency,
            kind="refund",
            reference=f"refund:{data.refund_id}",
            description=f"Refund of payment {data.payment_id}",
        )
        return GatewayResponse(status=ResponseStatus.SUCCEEDED, reference=entry.reference)
