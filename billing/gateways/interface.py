"""The contract between the billing core and payment gateways: plain dataclasses, nothing else crosses it."""

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class ResponseStatus(StrEnum):
    SUCCEEDED = "succeeded"
    # Accepted by the provider, the outcome comes later (a webhook).
    PROCESSING = "processing"
    FAILED = "failed"


@dataclass(frozen=True)
class CustomerData:
    user_id: int
    email: str
    name: str = ""
    gateway_customer_id: str = ""
    payment_method_id: str = ""


@dataclass(frozen=True)
class PaymentData:
    """One attempt to collect ``amount``; ``idempotency_key`` is the same when the same attempt is retried."""

    payment_id: int
    amount: Decimal
    currency: str
    description: str
    idempotency_key: str
    customer: CustomerData
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundData:
    payment_id: int
    refund_id: int
    amount: Decimal
    currency: str
    gateway_reference: str
    idempotency_key: str
    customer: CustomerData


@dataclass(frozen=True)
class GatewayResponse:
    status: ResponseStatus
    reference: str = ""
    error_code: str = ""
    error_message: str = ""
    # False when trying again cannot help (e.g. the customer has no card): retries are skipped.
    retryable: bool = True

    @property
    def succeeded(self) -> bool:
        return self.status == ResponseStatus.SUCCEEDED
