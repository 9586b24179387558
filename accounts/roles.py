"""Operator staff roles. Each role is a Django group of the same name; superusers hold every role."""

from django.db import models


class Role(models.TextChoices):
    OPERATOR_ADMIN = "operator_admin", "Operator admin"
    TECHNICIAN = "technician", "Technician"
    FINANCE = "finance", "Finance"
    ANALYST = "analyst", "Analyst"


def user_has_role(user, *roles: Role) -> bool:
    if not (user and user.is_authenticated and user.is_active):
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name__in=[str(role) for role in roles]).exists()
