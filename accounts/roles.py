"""Operator staff roles. Each role is a Django group of the same name; superusers hold every role.

Portal views check a role with ``@role_required(...)`` or ``RoleRequiredMixin``; DRF views with
``accounts.permissions.role_permission(...)``. The Django model permissions each role's group holds are
declared in ``accounts.role_permissions``.
"""

from functools import wraps

from django.contrib.auth.mixins import AccessMixin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
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


def user_roles(user) -> list[Role]:
    """The roles ``user`` holds, in the order of ``Role``."""
    if not (user and user.is_authenticated and user.is_active):
        return []
    if user.is_superuser:
        return list(Role)
    names = set(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
    return [role for role in Role if role.value in names]


def role_required(*roles: Role):
    """Decorate a portal view: anonymous users are sent to log in; users without any of ``roles`` get 403."""
    if not roles:
        raise ImproperlyConfigured("role_required needs at least one role.")

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not user_has_role(request.user, *roles):
                raise PermissionDenied("Your role does not allow this.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


class RoleRequiredMixin(AccessMixin):
    """The class-based form of ``role_required``: set ``roles = (Role.TECHNICIAN, ...)`` on the view."""

    roles: tuple[Role, ...] = ()
    permission_denied_message = "Your role does not allow this."

    def dispatch(self, request, *args, **kwargs):
        if not self.roles:
            raise ImproperlyConfigured(f"{type(self).__name__} needs `roles`.")
        if not user_has_role(request.user, *self.roles):
            # Anonymous users are sent to the login page, others get 403 (AccessMixin's behaviour).
            return self.handle_no_permission()
        return super().dispatch(request, *args, **kwargs)
