"""The demo network: what it seeds, that its history is priced by billing's own rules, that analytics shows it."""

import random
import re
import time
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Count, Max, Min, Sum

DASHBOARDS = ("usage", "utilisation", "reliability", "energy", "money")


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """Seeded once for the module, inside a transaction rolled back at its end."""
    from demo.services import demo_seed

    with django_db_blocker.unblock(), transaction.atomic():
        started = time.monotonic()
        result = demo_seed()
        # The issue asks for a seed under a minute: measured and reported here, not asserted (machines vary).
        print(f"\ndemo seed: {time.monotonic() - started:.1f} s for {result.counts}")
        yield result
        transaction.set_rollback(True)


@pytest.fixture
def operator_user(demo, db, django_user_model):
    return django_user_model.objects.get(email=demo.network.operator_email)


def test_demo_seeds_an_operator_sites_stations_tariffs_and_drivers(demo, db):
    from allauth.account.models import EmailAddress

    from accounts.models import IdToken
    from billing.models import Operator, Tariff, TariffPeriod, Wallet
    from stations.models import Site, Station

    operator = Operator.objects.get(is_default=True)
    assert operator.vat_id and operator.address and operator.legal_name.endswith("GmbH")
    assert Site.objects.count() == 3
    stations = Station.objects.filter(ocpp_id__startswith=demo.network.station_prefix)
    assert stations.count() == demo.network.stations >= 20
    assert all(station.password_hash for station in stations)  # each can log in, as create_station makes them
    assert stations.values("vendor").distinct().count() >= 4
    dc = Tariff.objects.filter(station__isnull=False)
    assert dc.exists() and Tariff.objects.filter(station__isnull=True, driver_group__isnull=True).exists()
    assert Tariff.objects.filter(driver_group__isnull=False).exists()
    assert dc.filter(idle_price_per_minute__gt=0, start_fee__gt=0).count() == dc.count()
    assert TariffPeriod.objects.count() == dc.count() + 1  # DC evening peak each, AC off-peak
    drivers = Wallet.objects.values_list("user_id", flat=True)
    assert len(drivers) == 50
    assert EmailAddress.objects.filter(user_id__in=drivers, verified=True).count() == 50
    assert IdToken.objects.filter(owner_id__in=drivers).values("owner").distinct().count() == 50


def test_demo_history_covers_ninety_days_of_sessions_faults_and_outages(demo, db):
    from analytics.models import StationOfflinePeriod
    from monitoring.models import Alert
    from sessions.models import MeterSample, Transaction
    from stations.models import ConnectorStatusEvent

    sessions = Transaction.objects.aggregate(n=Count("id"), first=Min("started_at"), last=Max("stopped_at"))
    assert sessions["n"] >= 1500
    assert sessions["last"] - sessions["first"] > timedelta(days=85)
    assert demo.network.seeded_at >= sessions["last"]
    assert not Transaction.objects.exclude(status=Transaction.Status.COMPLETED).exists()
    assert MeterSample.objects.count() >= 10 * sessions["n"]
    assert not Transaction.objects.filter(meter_samples__isnull=True).exists()
    assert ConnectorStatusEvent.objects.filter(status="Faulted").count() >= 10
    assert ConnectorStatusEvent.objects.filter(connector_id=0, status="Unavailable").exists()
    assert StationOfflinePeriod.objects.filter(ended_at__isnull=False).count() >= 20
    assert Alert.objects.filter(kind=Alert.Kind.CONNECTOR_FAULT).exists()
    assert Alert.objects.filter(kind=Alert.Kind.OFFLINE).exists()
    assert demo.counts["sessions"] == sessions["n"]


def test_demo_sessions_are_priced_as_billing_prices_them(demo, db):
    """Billing's own reading of the stored rows (session_usage, tariff_for) gives each charge exactly."""
    from billing.pricing import TariffSpec, price_session
    from billing.selectors import session_usage, station_timezone, tariff_for
    from sessions.models import Transaction

    sessions = list(Transaction.objects.select_related("station__site", "user", "charge"))
    assert all(hasattr(session, "charge") for session in sessions)
    for session in random.Random(7).sample(sessions, 60):
        tariff = tariff_for(station=session.station, user=session.user, at=session.started_at)
        spec = TariffSpec.from_model(tariff, station_timezone(session.station))
        price = price_session(spec, session_usage(session))
        assert (session.charge.tariff_id, session.charge.gross_amount, session.charge.energy_wh) == (
            tariff.pk,
            price.gross,
            price.energy_wh,
        ), session.pk
    assert {session.charge.idle_seconds > 0 for session in sessions} == {True, False}


def test_demo_receipts_are_numbered_without_gaps_and_paid_from_the_wallet_ledger(demo, db):
    from billing.models import DocumentSequence, Invoice, Payment, Wallet, WalletEntry

    invoices = list(Invoice.objects.order_by("issued_at").values_list("number", flat=True))
    year_numbers = defaultdict(list)
    for number in invoices:
        _, year, serial = number.rsplit("-", 2)
        year_numbers[year].append(int(serial))
    for year, serials in year_numbers.items():
        assert serials == list(range(1, len(serials) + 1)), year
        assert DocumentSequence.objects.get(year=int(year), kind="invoice").last_number == len(serials)
    paid = Payment.objects.filter(status=Payment.Status.SUCCEEDED)
    assert paid.count() + Payment.objects.filter(status=Payment.Status.FAILED).count() == len(invoices)
    assert Invoice.objects.filter(status=Invoice.Status.PAID).count() == paid.count()
    payment_entries = WalletEntry.objects.filter(kind=WalletEntry.Kind.PAYMENT)
    assert set(payment_entries.values_list("reference", flat=True)) == {
        f"payment:{pk}" for pk in paid.values_list("pk", flat=True)
    }
    for wallet in Wallet.objects.all():
        entries = list(wallet.entries.order_by("created_at", "id"))
        assert sum(entry.amount for entry in entries) == wallet.balance
        assert min(entry.balance_after for entry in entries) >= 0
    assert WalletEntry.objects.filter(kind=WalletEntry.Kind.ADJUSTMENT, created_by__isnull=False).exists()
    assert Wallet.objects.get(user__email=demo.network.driver_email).balance >= 40


def test_each_analytics_dashboard_renders_the_demo_history(demo, operator_user, client):
    from analytics.models import ConnectorDay, RevenueDay

    assert ConnectorDay.objects.aggregate(wh=Sum("energy_wh"))["wh"] > 0
    assert RevenueDay.objects.aggregate(gross=Sum("gross_amount"))["gross"] > 0
    client.force_login(operator_user)
    for name in DASHBOARDS:
        response = client.get(f"/analytics/{name}/")
        assert response.status_code == 200, name
        values = [kpi.value for kpi in response.context["data"].kpis]
        # A figure or a formatted amount ("13,701.74 EUR"): the money dashboard's plain counts were 0 in a run
        # at 01:40 UTC, its amounts were not.
        assert any(_amount(value) > 0 for value in values), (name, values)


def _amount(value) -> Decimal:
    """A KPI's number, whether given as one or formatted with thousands separators and a unit."""
    if isinstance(value, int | float | Decimal):
        return Decimal(value)
    number = re.match(r"-?\d[\d,]*(\.\d+)?", str(value))
    return Decimal(number.group().replace(",", "")) if number else Decimal(0)


def test_the_home_page_says_it_is_a_demo_and_how_to_log_in(demo, client, db):
    page = client.get("/").content.decode()
    assert "This is a demo" in page
    for shown in (
        demo.network.operator_email,
        demo.network.operator_password,
        demo.network.driver_email,
        demo.network.driver_password,
    ):
        assert shown in page
    assert client.login(email=demo.network.driver_email, password=demo.network.driver_password)


def test_seeding_twice_is_refused(demo, db):
    from demo.services import DemoAlreadySeeded, demo_seed
    from sessions.models import Transaction

    before = Transaction.objects.count()
    with pytest.raises(DemoAlreadySeeded, match="seeded at"):
        demo_seed()
    assert Transaction.objects.count() == before


def test_the_demo_command_refuses_clearly_the_second_time(demo, db):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="Start from an empty database"):
        call_command("demo")
