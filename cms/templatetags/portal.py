"""Template tags of the base layout: the menus of the current user."""

from django import template

from cms.navigation import driver_menu, operator_menu

register = template.Library()


@register.simple_tag(takes_context=True)
def portal_menu(context) -> dict:
    """``{"operator": [groups]}`` for staff, ``{"driver": [links]}`` for drivers, ``{}`` for visitors."""
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return {}
    if user.is_staff:
        return {"operator": operator_menu(user)}
    return {"driver": driver_menu(user)}
