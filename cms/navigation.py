"""The portal's menus: the operator's grouped navigation and the driver's, each showing only what the user may open.

A link names the roles its view requires (the constants the views themselves use) or, for the Django
admin's lists, the model permission; a user sees a group only when it has at least one link for them.
"""

from dataclasses import dataclass

from django.urls import reverse

from accounts.roles import Role, user_roles


@dataclass(frozen=True)
class Link:
    label: str
    url_name: str
    roles: tuple[Role, ...] = ()  # any of these roles opens it
    perm: str = ""  # or this model permission (the admin's lists)
    args: tuple = ()

    def allowed(self, user, roles: set[Role]) -> bool:
        if self.perm:
            return user.has_perm(self.perm)
        return not self.roles or bool(roles.intersection(self.roles))


@dataclass(frozen=True)
class MenuLink:
    label: str
    url: str


@dataclass(frozen=True)
class MenuGroup:
    label: str
    links: list[MenuLink]


def _operator_groups() -> list[tuple[str, list[Link]]]:
    # Imported here: the views import models, which are not ready when this module is first imported.
    from accounts.views import STAFF
    from billing.operator_views import MONEY_READ_ROLES, MONEY_ROLES
    from sessions.operator_views import SESSION_READ_ROLES
    from sessions.views import QR_ROLES, RESERVATION_READ_ROLES
    from stations.views import STATION_READ_ROLES, VIEW_ROLES

    return [
        (
            "Network",
            [
                Link("Stations", "stations:stations", STATION_READ_ROLES),
                Link("Sites", "stations:sites", STATION_READ_ROLES),
                Link("Live board", "stations:live", STATION_READ_ROLES),
                Link("Alerts", "stations:alerts", VIEW_ROLES),
                Link("Maintenance", "stations:jobs", VIEW_ROLES),
                Link("Firmware", "stations:firmware", VIEW_ROLES),
                Link("QR codes", "charging:qr_index", QR_ROLES),
                Link("Load management", "smartcharging:load-sites", VIEW_ROLES),
            ],
        ),
        (
            "Charging",
            [
                Link("Sessions", "charging:operator_sessions", SESSION_READ_ROLES),
                Link("Reservations", "charging:reservations", RESERVATION_READ_ROLES),
                Link("ID tokens", "accounts:operator_id_tokens", STAFF),
                Link("Import ID tokens", "accounts:id_token_import", (Role.OPERATOR_ADMIN,)),
                Link("Authorisations", "accounts:authorizations", STAFF),
            ],
        ),
        (
            "Money",
            [
                Link("Tariffs", "money:tariffs", MONEY_READ_ROLES),
                Link("Drivers", "money:drivers", MONEY_READ_ROLES),
                Link("Payments", "money:payments", MONEY_READ_ROLES),
                Link("Invoices", "billing:operator-invoices", MONEY_READ_ROLES),
                Link("Dunning", "billing:dunning", MONEY_READ_ROLES),
                Link("Wallet credits", "billing:wallet-credit", MONEY_ROLES),
                Link("Wallets", "admin:billing_wallet_changelist", perm="billing.view_wallet"),
            ],
        ),
        ("Insights", []),  # the dashboards this user may open, from analytics.views.visible_dashboards
        (
            "Settings",
            [
                Link("Legal details", "money:issuers", MONEY_ROLES),
                Link("Users and roles", "admin:accounts_user_changelist", perm="accounts.view_user"),
                Link("API docs", "api-docs", STAFF),
                Link("API reference (ReDoc)", "api-redoc", STAFF),
                Link("Administration", "admin:index", STAFF),
            ],
        ),
    ]


DRIVER_LINKS = [
    Link("My charging", "accounts:me"),
    Link("Cards", "accounts:id_tokens"),
    Link("Sessions", "accounts:sessions"),
    Link("History", "analytics:mine"),
    Link("Billing", "billing:overview"),
    Link("Invoices", "billing:invoices"),
    Link("Wallet", "billing:wallet"),
]


def _visible(links: list[Link], user, roles: set[Role]) -> list[MenuLink]:
    return [MenuLink(link.label, reverse(link.url_name, args=link.args)) for link in links if link.allowed(user, roles)]


def operator_menu(user) -> list[MenuGroup]:
    """The groups of the operator's navigation this staff user may open, empty groups left out."""
    from analytics.views import visible_dashboards

    roles = set(user_roles(user))
    groups = [MenuGroup(label, _visible(links, user, roles)) for label, links in _operator_groups()]
    insights = next(group for group in groups if group.label == "Insights")
    insights.links.extend(
        MenuLink(spec.title, reverse("analytics:dashboard", args=(name,))) for name, spec in visible_dashboards(user)
    )
    return [group for group in groups if group.links]


def driver_menu(user) -> list[MenuLink]:
    return _visible(DRIVER_LINKS, user, set())
