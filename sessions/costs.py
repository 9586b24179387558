"""What a session costs, asked of the app that prices sessions without importing it.

Billing registers its ``CostSource`` in its AppConfig.ready, as it connects ``signals.session_stopped``;
without one (no pricing app installed) no tariff is shown and no cost is told. The OCPP layer shows
these to the driver on the charger (OCPP 2.0.1 personalMessage, CostUpdated, totalCost), so what the
charger says comes from the same engine as the invoice.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from sessions.models import Transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CostSource:
    # (station, user) -> the prices the user charges at there, in words for a charger's display; None: no tariff.
    tariff_text: Callable[..., str | None]
    # (session, at) -> what the running session costs so far (gross), as of ``at``; None: no tariff.
    running_cost: Callable[..., Decimal | None]
    # (session) -> the final price of a stopped session, as billed (gross); None: not priced (no tariff, held).
    final_cost: Callable[..., Decimal | None]


_source: CostSource | None = None


def cost_source_register(source: CostSource) -> None:
    global _source
    _source = source


def tariff_text(*, station, user) -> str | None:
    return _source.tariff_text(station=station, user=user) if _source else None


def running_cost(*, station, transaction_id: str, at: datetime) -> Decimal | None:
    """What the open session the station knows as ``transaction_id`` costs so far; None when it is not open
    (refused, ended, unknown) or has no tariff."""
    if _source is None:
        return None
    session = (
        Transaction.objects.select_related("station__site", "user", "id_token__owner")
        .filter(station=station, ocpp_transaction_id=transaction_id, status=Transaction.Status.ACTIVE)
        .first()
    )
    return None if session is None else _source.running_cost(session=session, at=min(at, timezone.now()))


def final_cost(*, session: Transaction) -> Decimal | None:
    """The final price of a completed session. Prices it now if it has not been yet: the caller has committed
    the stop first (pricing reads the stopped session), and the billing app prices a session once, so the
    answer is the SessionCharge's amount whoever priced it. A failure leaves the price to billing's own
    pricing of the stop (None here): the stop itself is recorded already."""
    if _source is None or session.status != Transaction.Status.COMPLETED:
        return None
    try:
        return _source.final_cost(session=session)
    except Exception:
        logger.exception("final cost unknown", extra={"transaction_id": session.pk})
        return None
