"""The money dashboard, the tariff filter and the driver's costs, read from billing rows made for the fixture."""

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from tests.analytics.conftest import NOW, at

MON, TUE = date(2026, 3, 2), date(2026, 3, 3)


@pytest.fixture
def billed(rolled_up):
    """T1 and T2 on 'Standard' (8.00 and 4.00 net, 19 % tax), T3 on 'Fleet' (1.00); T5 had no customer.

    Invoice 1 (driver1, 9.52) was paid by card on Tuesday; invoice 2 (driver2, 4.76) is open, due Tuesday.
    """
    from analytics.rollups import rebuild_days
    from billing.models import Invoice, Operator, Payment, SessionCharge, Tariff
    from sessions.models import Transaction

    operator = Operator.objects.create(name="Op", legal_name="Op Ltd", is_default=True)
    standard = Tariff.objects.create(name="Standard", valid_from=at(1, 0), price_per_kwh=D("0.40"), tax_rate=19)
    fleet = Tariff.objects.create(name="Fleet", valid_from=at(1, 0), price_per_kwh=D("0.33"), tax_rate=19)
    sessions = {(t.station.ocpp_id, t.connector_id, t.started_at): t for t in Transaction.objects.all()}

    def charge(key, tariff, net, user=None, status="billable"):
        tx = sessions[key]
        net = D(net)
        tax = (net * D("0.19")).quantize(D("0.01"))
        SessionCharge.objects.create(
            transaction=tx, status=status, tariff=tariff, operator=operator, user=user, currency="EUR",
            energy_wh=tx.energy_wh, charging_seconds=0, idle_seconds=0, net_amount=net, tax_rate=19, tax_amount=tax,
            gross_amount=net + tax, session_started_at=tx.started_at,
        )

    charge(("CP-A", 1, at(2, 10)), standard, "8.00", rolled_up["driver1"])
    charge(("CP-A", 2, at(2, 23)), standard, "4.00", rolled_up["driver2"])
    charge(("CP-B", 1, at(3, 8)), fleet, "1.00")
    charge(("CP-B", 1, at(2, 10)), None, "0.00", status="no_customer")
    paid = Invoice.objects.create(operator=operator, customer=rolled_up["driver1"], purpose="session", status="paid",
                                  number="INV-1", currency="EUR", issued_at=at(2, 12), gross_total=D("9.52"))
    Payment.objects.create(invoice=paid, user=rolled_up["driver1"], method="card", amount=D("9.52"), currency="EUR",
                           status="succeeded", succeeded_at=at(3, 10))
    unpaid = Invoice.objects.create(operator=operator, customer=rolled_up["driver2"], purpose="session",
                                    status="open", number="INV-2", currency="EUR", issued_at=at(3, 1),
                                    due_at=at(3, 1), gross_total=D("4.76"))
    Payment.objects.create(invoice=unpaid, user=rolled_up["driver2"], method="wallet", amount=D("4.76"),
                           currency="EUR", status="failed", attempts=2)
    rebuild_days(d0=MON, d1=TUE, now=NOW)
    return {**rolled_up, "standard": standard, "fleet": fleet}


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
        "15.47 EUR", "13.00 EUR", 1, "4.76 EUR"]
    assert list(figures.money(dash)["tariffs"].data[0].y) == [14.28, 1.19]


def test_the_tariff_filter_narrows_money_and_usage(billed):
    from analytics.money import money_dashboard
    from analytics.selectors import usage_dashboard

    fleet = filters(tariff_id=billed["fleet"].pk)
    assert money_dashboard(fleet).tables["tariffs"].column("tariff") == ["Fleet"]
    usage = usage_dashboard(filters(tariff_id=billed["standard"].pk))
    # Sessions of one tariff count their energy on the day they started.
    assert usage.tables["sessions"].rows == [(MON, 2, D("30.000"), D("15.000"), D("2.00"), 2),
                                             (TUE, 0, D("0.000"), None, None, 0)]
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
