"""The portal: admin login, every model's admin page, the home page for each kind of user."""

import pytest
from django.contrib import admin
from django.urls import reverse


def test_operator_admin_logs_in_through_the_admin_login_form(client, operator_admin):
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "admin@example.com", "password": "admin-pass-123"}, follow=True
    )
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/admin/"
    assert "Voltgrid administration" in response.content.decode()


def test_wrong_admin_password_is_refused_with_a_message(client, operator_admin):
    response = client.post("/admin/login/?next=/admin/", {"username": "admin@example.com", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter the correct e-mail address and password" in response.content.decode()


def test_a_driver_cannot_enter_the_admin(client, driver):
    client.force_login(driver)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda m: m._meta.label)
def test_every_model_has_a_working_admin_list_and_add_page(admin_client, model):
    info = (model._meta.app_label, model._meta.model_name)
    assert admin_client.get(reverse("admin:{}_{}_changelist".format(*info))).status_code == 200
    add_page = admin_client.get(reverse("admin:{}_{}_add".format(*info)))
    # Records written only by the system (histories, logs) are read-only in the admin.
    assert add_page.status_code in (200, 403)


# What the system records or derives: an added row would change nothing it stands for (a message no station sent, a
# rollup the next rebuild recomputes, a reading no meter took).
DERIVED = [
    "analytics.ConnectorDay",
    "analytics.DriverDay",
    "analytics.FaultDay",
    "analytics.MonthlyReport",
    "analytics.NetworkHour",
    "analytics.RevenueDay",
    "analytics.SiteHour",
    "analytics.StationOfflinePeriod",
    "charging_sessions.MeterSample",
    "charging_sessions.Transaction",
    "monitoring.AlertDelivery",
    "smartcharging.DriverChargingNeeds",
    "stations.ConfigurationKey",
    "stations.ConnectorStatusEvent",
    "stations.OcppMessage",
    "stations.StationCommand",
]


@pytest.mark.parametrize("label", DERIVED)
def test_derived_and_recorded_tables_offer_no_add_in_the_admin(admin_client, label):
    info = tuple(label.lower().split("."))
    changelist = admin_client.get(reverse("admin:{}_{}_changelist".format(*info))).content.decode()
    assert reverse("admin:{}_{}_add".format(*info)) not in changelist
    assert admin_client.get(reverse("admin:{}_{}_add".format(*info))).status_code == 403


def test_the_admin_names_every_table_in_plain_english(admin_client):
    index = admin_client.get("/admin/").content.decode()
    for name in ("Alert deliveries", "Connector load settings", "EV charging schedules", "EV charging needs"):
        assert f">{name}</a>" in index
    for model in admin.site._registry:
        plural = str(model._meta.verbose_name_plural)
        assert not plural.endswith(("ys", "ss")) or plural.endswith(("ays", "eys", "oys")), plural


def test_station_admin_sets_a_hashed_password(admin_client):
    from stations.models import Station

    response = admin_client.post(
        reverse("admin:stations_station_add"),
        {
            "ocpp_id": "CP-ADMIN",
            "new_password": "very-secret",
            "registration_status": "Accepted",
            "connectors-TOTAL_FORMS": 0,
            "connectors-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302, response.content.decode()
    station = Station.objects.get(ocpp_id="CP-ADMIN")
    assert station.password_hash != "very-secret"
    assert station.check_password("very-secret")


def test_anonymous_home_invites_to_sign_up(client, db):
    html = client.get("/").content.decode()
    assert reverse("account_signup") in html
    assert "/static/css/app.css" in html


def test_driver_logs_in_with_email_and_sees_the_driver_layout(client, driver):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=driver, email=driver.email, verified=True, primary=True)
    response = client.post(
        reverse("account_login"), {"login": "driver@example.com", "password": "driver-pass-123"}, follow=True
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="driver"' in html
    assert "My charging" in html


def test_staff_home_shows_the_operator_layout(admin_client):
    html = admin_client.get("/").content.decode()
    assert 'class="operator"' in html
    assert "Network overview" in html
