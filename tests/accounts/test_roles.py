"""Staff roles: the groups and their model permissions, the portal's role checks, the DRF helper."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse
from django.views import View
from rest_framework.test import APIRequestFactory

from accounts.permissions import role_permission
from accounts.role_permissions import role_grants, roles_sync
from accounts.roles import Role, RoleRequiredMixin, role_required, user_has_role, user_roles

pytestmark = pytest.mark.django_db


def codenames(role: Role) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name=role.value).permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


def test_the_four_role_groups_exist():
    assert set(Group.objects.values_list("name", flat=True)) >= set(Role.values)


def test_operator_admin_holds_every_model_permission():
    assert codenames(Role.OPERATOR_ADMIN) == {
        f"{p.content_type.app_label}.{p.codename}" for p in Permission.objects.select_related("content_type")
    }


def test_technician_runs_stations_and_commands_but_touches_no_money():
    granted = codenames(Role.TECHNICIAN)
    assert {"stations.change_station", "stations.add_stationcommand", "stations.view_stationcommand"} <= granted
    assert "charging_sessions.view_transaction" in granted
    assert "charging_sessions.change_transaction" not in granted
    assert not {name for name in granted if name.startswith("billing.")}
    assert "accounts.change_idtoken" not in granted
    assert "stations.change_ocppmessage" not in granted  # the message log is a record


def test_finance_runs_money_but_sends_no_commands():
    granted = codenames(Role.FINANCE)
    billing = {
        f"billing.{p.codename}"
        for p in Permission.objects.filter(content_type__app_label="billing")
        if p.codename.split("_", 1)[1] == p.content_type.model
    }
    assert billing and billing <= granted
    assert "stations.view_station" in granted
    assert not {"stations.add_stationcommand", "stations.view_stationcommand", "stations.change_station"} & granted


def test_analyst_only_reads():
    granted = codenames(Role.ANALYST)
    assert {"stations.view_station", "charging_sessions.view_transaction", "accounts.view_idtoken"} <= granted
    assert all(name.split(".")[1].startswith("view_") for name in granted)


def test_models_added_later_fall_under_the_rules():
    assert role_grants(Role.FINANCE, app_label="billing", model="creditnote", action="delete")
    assert not role_grants(Role.TECHNICIAN, app_label="billing", model="creditnote", action="view")
    assert role_grants(Role.TECHNICIAN, app_label="analytics", model="stationalert", action="change")
    assert not role_grants(Role.ANALYST, app_label="analytics", model="stationalert", action="change")


def test_syncing_restores_a_missing_permission_and_keeps_ones_added_by_hand():
    from django.apps import apps

    technicians = Group.objects.get(name=Role.TECHNICIAN.value)
    command = Permission.objects.get(codename="add_stationcommand")
    extra = Permission.objects.get(codename="view_user")
    technicians.permissions.remove(command)
    technicians.permissions.add(extra)
    roles_sync(apps=apps)
    assert {"stations.add_stationcommand", "accounts.view_user"} <= codenames(Role.TECHNICIAN)


def test_django_permissions_follow_the_role(staff):
    technician, finance, analyst = staff[Role.TECHNICIAN], staff[Role.FINANCE], staff[Role.ANALYST]
    assert technician.has_perm("stations.add_stationcommand")
    assert not finance.has_perm("stations.add_stationcommand")
    assert analyst.has_perm("stations.view_station") and not analyst.has_perm("stations.change_station")


def test_user_roles_and_user_has_role(staff, alice, operator_admin):
    assert user_roles(staff[Role.FINANCE]) == [Role.FINANCE]
    assert user_roles(alice) == []
    assert user_roles(operator_admin) == list(Role)  # a superuser holds every role
    assert user_has_role(staff[Role.ANALYST], Role.ANALYST, Role.FINANCE)
    assert not user_has_role(staff[Role.ANALYST], Role.OPERATOR_ADMIN)
    staff[Role.ANALYST].is_active = False
    assert not user_has_role(staff[Role.ANALYST], Role.ANALYST)


def test_the_admin_lets_each_role_do_what_its_permissions_say(client, staff):
    client.force_login(staff[Role.TECHNICIAN])
    assert client.get(reverse("admin:stations_station_changelist")).status_code == 200
    assert client.get(reverse("admin:accounts_idtoken_changelist")).status_code == 200
    assert client.get(reverse("admin:accounts_idtoken_add")).status_code == 403
    assert client.get(reverse("admin:billing_invoice_changelist")).status_code == 403
    client.force_login(staff[Role.FINANCE])
    assert client.get(reverse("admin:billing_invoice_changelist")).status_code == 200
    assert client.get(reverse("admin:stations_stationcommand_add")).status_code == 403


class TechnicianView(RoleRequiredMixin, View):
    roles = (Role.TECHNICIAN,)

    def get(self, request):
        return HttpResponse("ok")


@role_required(Role.FINANCE)
def finance_view(request):
    return HttpResponse("ok")


def _request(user):
    request = RequestFactory().get("/somewhere/?x=1")
    request.user = user
    return request


def test_role_mixin_and_decorator_send_anonymous_users_to_log_in(db):
    from django.contrib.auth.models import AnonymousUser

    for view in (TechnicianView.as_view(), finance_view):
        response = view(_request(AnonymousUser()))
        assert response.status_code == 302
        assert response["Location"] == "/accounts/login/?next=/somewhere/%3Fx%3D1"


def test_role_mixin_and_decorator_refuse_other_roles_and_let_the_role_in(staff, alice):
    for view, allowed in ((TechnicianView.as_view(), Role.TECHNICIAN), (finance_view, Role.FINANCE)):
        assert view(_request(staff[allowed])).status_code == 200
        for user in (alice, *(staff[role] for role in Role if role not in (allowed, Role.OPERATOR_ADMIN))):
            with pytest.raises(PermissionDenied):
                view(_request(user))


@pytest.mark.parametrize("role", list(Role))
def test_every_staff_role_reads_the_authorisation_log_and_drivers_do_not(client, staff, alice, role):
    client.force_login(staff[role])
    assert client.get(reverse("accounts:authorizations")).status_code == 200
    client.force_login(alice)
    assert client.get(reverse("accounts:authorizations")).status_code == 403


def test_drf_role_permission_with_read_only_roles(staff, alice):
    permission = role_permission(Role.FINANCE, read_only=(Role.ANALYST,))()
    factory = APIRequestFactory()

    def allowed(method, user):
        request = getattr(factory, method)("/api/x/")
        request.user = user
        return permission.has_permission(request, None)

    assert allowed("get", staff[Role.FINANCE]) and allowed("post", staff[Role.FINANCE])
    assert allowed("get", staff[Role.ANALYST]) and not allowed("post", staff[Role.ANALYST])
    assert not allowed("get", staff[Role.TECHNICIAN]) and not allowed("get", alice)


def test_every_migrate_recreates_the_groups_with_all_their_permissions():
    from django.core.management.sql import emit_post_migrate_signal

    Group.objects.filter(name__in=Role.values).delete()
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert "stations.add_stationcommand" in codenames(Role.TECHNICIAN)
    assert "billing.change_invoice" in codenames(Role.FINANCE)
    assert len(codenames(Role.OPERATOR_ADMIN)) == Permission.objects.count()
