"""The Django model permissions each staff role's group holds, and the function that grants them.

Rules are (app label, model name, actions) with shell-style wildcards, so that models other apps add
later (billing's invoices, analytics' alerts) fall under their role without editing this file. Granting
is additive: permissions an operator added to a group by hand are kept.
"""

from fnmatch import fnmatchcase

from accounts.roles import Role

ALL = ("add", "change", "delete", "view")
VIEW = ("view",)

ROLE_PERMISSIONS: dict[Role, list[tuple[str, str, tuple[str, ...]]]] = {
    Role.OPERATOR_ADMIN: [("*", "*", ALL)],
    # Stations, connectors, status history, message log and commands; alerts wherever they live, maintenance
    # jobs and firmware. No money.
    Role.TECHNICIAN: [
        ("stations", "*", ALL),
        ("monitoring", "*", ALL),
        ("analytics", "*alert*", ALL),
        ("analytics", "*", VIEW),
        ("charging_sessions", "*", VIEW),
        ("smartcharging", "*", VIEW),
        ("accounts", "idtoken", VIEW),
        ("accounts", "idtokenevent", VIEW),
    ],
    # Tariffs, invoices, payments; sees what is billed and to whom. No commands, no station changes.
    Role.FINANCE: [
        ("billing", "*", ALL),
        ("charging_sessions", "*", VIEW),
        ("stations", "site", VIEW),
        ("stations", "station", VIEW),
        ("stations", "connector", VIEW),
        ("accounts", "user", VIEW),
        ("accounts", "idtoken", VIEW),
        ("accounts", "idtokenevent", VIEW),
        ("analytics", "*", VIEW),
    ],
    # Dashboards and reports: reads the network, sessions and revenue, changes nothing.
    Role.ANALYST: [
        ("stations", "*", VIEW),
        ("monitoring", "*", VIEW),
        ("charging_sessions", "*", VIEW),
        ("smartcharging", "*", VIEW),
        ("billing", "*", VIEW),
        ("analytics", "*", VIEW),
        ("accounts", "idtoken", VIEW),
    ],
}


# Records of what happened (message log, status history, token history): only operator admins may alter them.
RECORDS = [
    ("stations", "ocppmessage"),
    ("stations", "connectorstatusevent"),
    ("monitoring", "alertevent"),
    ("accounts", "idtokenevent"),
]


def role_grants(role: Role, *, app_label: str, model: str, action: str) -> bool:
    if action != "view" and role != Role.OPERATOR_ADMIN and (app_label, model) in RECORDS:
        return False
    return any(
        fnmatchcase(app_label, app_rule) and fnmatchcase(model, model_rule) and action in actions
        for app_rule, model_rule, actions in ROLE_PERMISSIONS[role]
    )


def roles_sync(*, apps, using: str = "default", app_labels: list[str] | None = None) -> None:
    """Create the role groups if missing and grant each the permissions of ``app_labels`` (all apps if None).

    ``apps`` is a migration's app registry or ``django.apps.apps``; only a model's four default
    permissions (add/change/delete/view) are considered. A few queries whatever the number of models.
    """
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    GroupPermission = Group._meta.get_field("permissions").remote_field.through
    names = [role.value for role in Role]
    groups = Group.objects.using(using)
    missing = set(names) - set(groups.filter(name__in=names).values_list("name", flat=True))
    if missing:
        groups.bulk_create([Group(name=name) for name in sorted(missing)], ignore_conflicts=True)
    group_pks = dict(groups.filter(name__in=names).values_list("name", "pk"))
    permissions = Permission.objects.using(using)
    if app_labels is not None:
        permissions = permissions.filter(content_type__app_label__in=app_labels)
    rows = []
    for pk, codename, app_label, model in permissions.values_list(
        "pk", "codename", "content_type__app_label", "content_type__model"
    ):
        action, _, codename_model = codename.partition("_")
        if codename_model != model:
            continue  # a custom permission: granted by hand, not by rule
        rows.extend(
            GroupPermission(group_id=group_pks[role.value], permission_id=pk)
            for role in Role
            if role_grants(role, app_label=app_label, model=model, action=action)
        )
    GroupPermission.objects.using(using).bulk_create(rows, ignore_conflicts=True)
