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
from stations.models import Station

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CostSource:
    # (station, user) -> the prices the user charges at there, in words for a charger's display; None: no tariff.
    tariff_text: Callable[..., str | None]
    # ([(session, at), ...]) -> what each running session costs so far (gross), as of its ``at``; None: no tariff.
    running_costs: Callable[..., list[Decimal | None]]
    # (session) -> the final price of a stopped session, as billed (gross); None: not priced (no tariff, held).
    final_cost: Callable[..., Decimal | None]


_source: CostSource | None = None


def cost_source_register(source: CostSource) -> None:
    global _source
    _source = source


def tariff_text(*, station, user) -> str | None:
    return _source.tariff_text(station=station, user=user) if _source else None


@dataclass(frozen=True)
class RunningCostAsked:
    """A running cost wanted: of the open session ``station`` knows as ``transaction_id``, as of ``at``."""

    station: Station
    transaction_id: str
    at: datetime


def running_costs(asked: list[RunningCostAsked]) -> list[Decimal | None]:
    """What each session asked for costs so far, in their order, priced together (a batch of the 2.0.1 stations'
    metered events); None for a session that is not open (refused, ended, unknown) or has no tariff."""
    if _source is None or not asked:
        return [None] * len(asked)
    open_sessions = {
        (session.station_id, session.ocpp_transaction_id): session
        for session in Transaction.objects.select_related("station__site", "user", "id_token__owner").filter(
            station_id__in={one.station.pk for one in asked},
            ocpp_transaction_id__in={one.transaction_id for one in asked},
            status=Transaction.Status.ACTIVE,
        )
    }
    now = timezone.now()
    found = [(one, open_sessions.get((one.station.pk, one.transaction_id))) for one in asked]
    priced = iter(_priced_apart([(session, min(one.at, now)) for one, session in found if session is not None]))
    return [None if session is None else next(priced) for _, session in found]


def _priced_apart(asked: list[tuple]) -> list[Decimal | None]:
    """The running costs priced together; if that fails, each on its own, so that one session the engine cannot
    price (None) does not keep the others' from their chargers."""
    try:
        return _source.running_costs(asked)
    except Exception:
        if len(asked) == 1:
            logger.exception("running cost unknown", extra={"transaction_id": asked[0][0].pk})
            return [None]
    return [cost for one in asked for cost in _priced_apart([one])]


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
