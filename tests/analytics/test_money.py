"""The money dashboard, the tariff filter and the driver's costs, read from billing rows made for the fixture."""

from datetime import date, timedelta
from decimal import Decimal as D

from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from tests.analytics.conftest import NOW, at

MON, TUE = date(2026, 3, 2), date(2026, 3, 3)


def filters(**kwargs):
    from analytics.filters import Filters

    return Filters(start=MON, end=TUE, now=NOW, **kwargs)


def test_revenue_by_day_tariff_and_payment_method_and_the_unpaid_invoices(billed):
    from analytics import figures
    from analytics.money import money_dashboard

    dash = money_dashboard(filters())
    assert dash.tables["daily"].rows == [
        (MON, "EUR", 2, D("12.0000"), D("14.2800")),
        (TUE, "EUR", 1, D("1.0000"), D("1.1900")),
    ]
    assert dash.tables["tariffs"].rows == [
        ("Standard", "EUR", 2, D("30.000"), D("12.0000"), D("14.2800")),
        ("Fleet", "EUR", 1, D("3.000"), D("1.0000"), D("1.1900")),
    ]
    assert dash.tables["methods"].rows == [("card", "EUR", 1, D("9.5200"), D("0.0000"), D("9.5200"))]
    assert dash.tables["unpaid"].rows == [
        ("INV-2", "driver2@example.com", "open", at(3, 1), at(3, 1), "EUR", D("4.7600"), "failed", 2, 1),
    ]
    assert [dash.kpi(k) for k in ["revenue_gross", "revenue_net", "unpaid_invoices", "outstanding"]] == [
        "15.47 EUR",
        "13.00 EUR",
        1,
        "4.76 EUR",
    ]
    assert list(figures.money(dash)["tariffs"].data[0].y) == [14.28, 1.19]


def test_the_tariff_filter_narrows_money_and_usage(billed):
    from analytics.money import money_dashboard
    from analytics.selectors import usage_dashboard

    fleet = filters(tariff_id=billed["fleet"].pk)
    assert money_dashboard(fleet).tables["tariffs"].column("tariff") == ["Fleet"]
    usage = usage_dashboard(filters(tariff_id=billed["standard"].pk))
    # Sessions of one tariff count their energy on the day they started.
    assert usage.tables["sessions"].rows == [
        (MON, 2, D("30.000"), D("15.000"), D("2.00"), 2),
        (TUE, 0, D("0.000"), None, None, 0),
    ]
    cells = {(w, h): n for w, h, n in usage.tables["heatmap"].rows if n}
    assert cells == {("Mon", 10): 1, ("Mon", 23): 1}


def test_the_driver_sees_the_cost_of_their_sessions(billed):
    from analytics.selectors import driver_dashboard

    dash = driver_dashboard(billed["driver1"], filters())
    assert dash.tables["periods"].column("cost") == [D("9.5200"), None]
    assert dash.kpi("cost") == D("9.5200")


def test_the_tariff_choice_is_offered_and_checked(client, billed, staff_user):
    client.force_login(staff_user(Role.FINANCE))
    html = client.get(reverse("analytics:dashboard", args=["money"])).content.decode()
    assert "Standard (EUR, from 2026-03-01)" in html
    response = client.get(reverse("analytics:dashboard", args=["money"]), {"tariff": 999999})
    assert response.status_code == 400


def test_the_overview_shows_todays_revenue_and_the_trend_to_those_who_see_money(billed, staff_user):
    from analytics.selectors import overview_trend
    from cms.overview import operator_overview

    trend = overview_trend(days=14, now=at(3, 12), with_revenue=True)
    assert trend.tables["revenue"].rows == [(MON, "EUR", D("14.2800")), (TUE, "EUR", D("1.1900"))]
    tiles = {t.label: t.value for t in operator_overview(staff_user(Role.FINANCE), now=at(3, 12)).tiles}
    assert tiles["Revenue today"] == "1.19 EUR"
    technician = staff_user(Role.TECHNICIAN, email="tech@example.com")
    assert "Revenue today" not in {t.label for t in operator_overview(technician, now=at(3, 12)).tiles}


def test_a_session_priced_later_adds_its_revenue_at_the_next_refresh(billed):
    from analytics.money import money_dashboard
    from analytics.services import rollups_refresh
    from billing.models import SessionCharge
    from tests.analytics.test_services import stored_an_hour_ago

    rollups_refresh(now=NOW)
    stored_an_hour_ago()
    SessionCharge.objects.update(priced_at=timezone.now() - timedelta(hours=1))
    charge = SessionCharge.objects.get(transaction__started_at=at(3, 8))
    charge.pk, charge.transaction = None, billed["cp_a"].transactions.get(started_at=at(3, 22))
    charge.save()  # T4's price, as billing would store it once T4 ends
    assert rollups_refresh(now=NOW) == [(TUE, TUE), (date(2026, 3, 9), date(2026, 3, 10))]
    assert money_dashboard(filters()).tables["daily"].column("sessions") == [2, 2]
