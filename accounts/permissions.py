"""DRF permission classes for staff roles."""

from rest_framework.permissions import BasePermission

from accounts.roles import Role, user_has_role


def role_permission(*roles: Role) -> type[BasePermission]:
    """A permission class letting in users with any of ``roles``: ``permission_classes = [role_permission(...)]``."""

    class HasRole(BasePermission):
        message = "Your role does not allow this."

        def has_permission(self, request, view):
            return user_has_role(request.user, *roles)

    HasRole.__name__ = "HasRole_" + "_".join(str(role) for role in roles)
    return HasRole


IsOperatorAdmin = role_permission(Role.OPERATOR_ADMIN)
