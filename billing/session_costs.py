"""Billing's answers to ``sessions.costs`` (registered in ``BillingConfig.ready``): a driver's tariff in words,
what a running session costs so far and a stopped session's final price, all from the pricing engine and
the charge that bills the session, so that what a charger shows is what the invoice says."""

from decimal import Decimal

from django.utils import timezone

from billing.models import SessionCharge, Tariff
from billing.money import minor_unit_digits
from billing.selectors import sessions_running_cost, tariff_for
from billing.services.pricing import session_charge_create

# The most a charger's message (OCPP 2.0.1 MessageContentType.content) holds.
MAX_TEXT = 512


def tariff_text(*, station, user) -> str | None:
    """The prices ``user`` charges at ``station`` now, for the charger's display; None without a tariff."""
    tariff = tariff_for(station=station, user=user, at=timezone.now())
    return None if tariff is None else tariff_in_words(tariff)


def running_costs(asked: list[tuple]) -> list[Decimal | None]:
    """Each (session, at)'s price so far (gross, rounded as a charge is), as of ``at``; None without a tariff."""
    return [None if cost.price is None else cost.price.gross for cost in sessions_running_cost(asked)]


def final_cost(*, session) -> Decimal | None:
    """The gross amount of the session's charge, pricing it now unless priced already; None when the charge
    prices nothing (no tariff, or held for review)."""
    charge = session_charge_create(transaction_id=session.pk)
    if charge is None or charge.tariff_id is None or charge.status == SessionCharge.Status.HELD:
        return None
    return charge.gross_amount


def tariff_in_words(tariff: Tariff) -> str:
    """E.g. "Price: 0.40 EUR per kWh, 1.00 EUR per session; Night 22:00-06:00: 0.30 EUR per kWh (plus 19 % tax)."""

    def price(amount) -> str:
        amount = Decimal(amount)
        digits = max(minor_unit_digits(tariff.currency), -amount.normalize().as_tuple().exponent)
        return f"{amount:.{digits}f} {tariff.currency}"

    def rates(per_kwh, per_minute) -> list[str]:
        return [f"{price(rate)} per {unit}" for rate, unit in ((per_kwh, "kWh"), (per_minute, "minute")) if rate]

    parts = rates(tariff.price_per_kwh, tariff.price_per_minute)
    if tariff.start_fee:
        parts.append(f"{price(tariff.start_fee)} per session")
    text = ", ".join(parts) or "free"
    if tariff.idle_price_per_minute:
        grace = f" after {tariff.idle_grace_minutes} free minutes" if tariff.idle_grace_minutes else ""
        text += f"; parking after charging {price(tariff.idle_price_per_minute)} per minute{grace}"
    for period in tariff.periods.all():
        changed = rates(period.price_per_kwh, period.price_per_minute)
        if changed:
            text += f"; {period.name} {period.start_time:%H:%M}-{period.end_time:%H:%M}: {', '.join(changed)}"
    if tariff.min_price:
        text += f"; at least {price(tariff.min_price)}"
    if tariff.max_price is not None:
        text += f"; at most {price(tariff.max_price)}"
    if tariff.tax_rate:
        text += f" (plus {tariff.tax_rate.normalize():f} % tax)"
    return f"Price: {text}."[:MAX_TEXT]
