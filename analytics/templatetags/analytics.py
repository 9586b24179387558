"""Formatting of dashboard values, and the export links of a dashboard's tables."""

from datetime import date, datetime
from decimal import Decimal

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.urls import reverse
from django.utils import timezone

register = template.Library()


@register.filter
def cell(value):
    if value is None:
        return ""
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return intcomma(value)
    return value


@register.filter
def kpi_value(value):
    return "-" if value is None else cell(value)


@register.simple_tag(takes_context=True)
def export_url(context, table: str, kind: str) -> str:
    """The export of ``table`` with the page's filters: of the dashboard shown, or of the driver's own page."""
    name = context.get("name")
    url = (
        reverse("analytics:export", args=[name, table, kind])
        if name
        else reverse("analytics:mine-export", args=[table, kind])
    )
    querystring = context.get("querystring")
    return f"{url}?{querystring}" if querystring else url
