"""Template filters for money: ``{{ invoice.gross_total|money:invoice.currency }}``."""

from django import template

from billing.money import format_money

register = template.Library()


@register.filter
def money(amount, currency):
    return format_money(amount, currency or "")


@register.inclusion_tag("billing/operator/_issuer_alert.html", takes_context=True)
def issuer_alert(context):
    """The banner on every operator page while an issuer's legal details are missing: its invoices wait."""
    from accounts.roles import Role, user_has_role
    from billing import selectors

    request = context.get("request")
    user = getattr(request, "user", None)
    if not user_has_role(user, Role.OPERATOR_ADMIN, Role.FINANCE, Role.ANALYST):
        return {"operators": []}
    operators = selectors.issuers_incomplete()
    waiting = selectors.invoices_waiting(operators=operators).count() if operators else 0
    can_complete = user_has_role(user, Role.OPERATOR_ADMIN, Role.FINANCE)  # analysts read, change nothing
    return {"operators": operators, "waiting": waiting, "can_complete": can_complete}


@register.simple_tag
def session_bill(session):
    """``{% session_bill session as bill %}``: what the driver is told ``session`` cost (``selectors.SessionBill``)."""
    from billing import selectors

    return selectors.session_bill(session)
