"""DRF permission classes for staff roles."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.roles import Role, user_has_role


def role_permission(*roles: Role, read_only: tuple[Role, ...] = ()) -> type[BasePermission]:
    """A permission class letting in users with any of ``roles``: ``permission_classes = [role_permission(...)]``.

    Users holding one of ``read_only`` (and none of ``roles``) may only read (GET, HEAD, OPTIONS).
    """

    class HasRole(BasePermission):
        message = "Your role does not allow this."

        def has_permission(self, request, view):
            if user_has_role(request.user, *roles):
                return True
            return bool(read_only) and request.method in SAFE_METHODS and user_has_role(request.user, *read_only)

    HasRole.__name__ = "HasRole_" + "_".join(str(role) for role in roles)
    return HasRole


# Every staff role may read; only operator admins may write.
IsStaffReadOperatorAdminWrite = role_permission(
    Role.OPERATOR_ADMIN, read_only=(Role.TECHNICIAN, Role.FINANCE, Role.ANALYST)
)
