"""Template filters of the station pages: power and energy in the units operators read, board states."""

import json

from django import template

from stations.selectors import BOARD_STATES

register = template.Library()


@register.filter
def kw(watts) -> str:
    """W as kW with one decimal: 7400 → "7.4"."""
    if watts is None or watts == "":
        return ""
    return f"{float(watts) / 1000:.1f}"


@register.filter
def kwh(watt_hours) -> str:
    """Wh as kWh with two decimals: 12345 → "12.35"."""
    if watt_hours is None or watt_hours == "":
        return ""
    return f"{float(watt_hours) / 1000:.2f}"


@register.filter
def state_label(state: str) -> str:
    return BOARD_STATES.get(state, state)


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) if value is not None else ""


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None
