"""Template filters for money: ``{{ invoice.gross_total|money:invoice.currency }}``."""

from django import template

from billing.money import format_money

register = template.Library()


@register.filter
def money(amount, currency):
    return format_money(amount, currency or "")
