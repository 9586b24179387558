"""Template filters for the accounts pages: energy in kWh and session durations."""

from datetime import datetime

from django import template

register = template.Library()


@register.filter
def kwh(wh: int | None) -> str:
    """Integer Wh as kWh with two decimals: 12345 → "12.35 kWh"."""
    if wh is None:
        return "—"
    return f"{wh / 1000:.2f} kWh"


@register.filter
def duration(started_at: datetime | None, stopped_at: datetime | None) -> str:
    """The time between two moments as "2 h 05 min" (or "35 min")."""
    if started_at is None or stopped_at is None:
        return "—"
    minutes = max(0, int((stopped_at - started_at).total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


DRIVER_STATUS = {"Accepted": "Active", "Blocked": "Blocked", "Expired": "Expired", "Invalid": "Not valid"}


@register.filter
def token_status(id_token) -> str:
    """A card's status in a driver's words: Active, Blocked, Expired (also when past its expiry date), Not valid."""
    return DRIVER_STATUS.get(id_token.display_status, id_token.display_status)
