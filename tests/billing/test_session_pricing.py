"""Pricing stored sessions: tariff precedence and validity, meter data from the database, billing them once."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from billing import selectors, services
from billing.models import DriverGroup, Invoice, Payment, SessionCharge, Subscription, SubscriptionPlan
from billing.tasks import price_session
from tests.billing.conftest import T0

D = Decimal


def test_a_stopped_session_is_priced_from_its_samples_and_billed_on_a_receipt(
    make_session, make_tariff, operator, funded_driver
):
    make_tariff(price_per_kwh=D("0.40"), start_fee=D("1.00"))
    session = make_session(energy_wh=12_345, user=funded_driver)

    charge = services.session_charge_create(transaction_id=session.pk)

    assert charge.status == SessionCharge.Status.BILLABLE
    assert charge.energy_wh == 12_345
    assert (charge.net_amount, charge.tax_amount, charge.gross_amount) == (D("5.94"), D("1.13"), D("7.07"))
    invoice = charge.invoice
    assert invoice.purpose == Invoice.Purpose.SESSION
    assert invoice.number == f"VG-{timezone.now().year}-000001"
    assert invoice.gross_total == D("7.07")
    assert invoice.lines.get().session_charge == charge
    assert invoice.issuer["vat_id"] == "DE123456789"
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.method, payment.amount, payment.status) == ("wallet", D("7.07"), Payment.Status.PENDING)


def test_pricing_twice_bills_once(make_session, make_tariff, operator, driver):
    make_tariff()
    session = make_session(user=driver)
    first = price_session.apply(args=(session.pk,)).get()
    second = price_session.apply(args=(session.pk,)).get()
    assert first == second
    assert SessionCharge.objects.filter(transaction=session).count() == 1
    assert Invoice.objects.filter(customer=driver).count() == 1
    assert Payment.objects.filter(user=driver).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_pricing_of_one_session_bills_once(make_session, make_tariff, operator, driver):
    make_tariff()
    session = make_session(user=driver)
    barrier = threading.Barrier(4)
    results, errors = [], []

    def price():
        try:
            barrier.wait()
            results.append(services.session_charge_create(transaction_id=session.pk).pk)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=price) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(set(results)) == 1
    assert SessionCharge.objects.filter(transaction=session).count() == 1
    assert Invoice.objects.count() == 1


def test_session_ended_prices_the_session_after_the_commit(
    make_session, make_tariff, operator, driver, django_capture_on_commit_callbacks
):
    make_tariff()
    session = make_session(user=driver)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.session_ended(transaction=session)
    assert not SessionCharge.objects.exists()  # nothing happens before the commit
    assert len(callbacks) == 1
    callbacks[0]()
    assert SessionCharge.objects.get(transaction=session).status == SessionCharge.Status.BILLABLE


def test_the_sweep_prices_stopped_sessions_whose_task_was_lost(make_session, make_tariff, operator, driver):
    from sessions.models import Transaction

    make_tariff()
    lost = make_session(user=driver)
    running = make_session(user=driver, stopped=False, started_at=T0 + timedelta(hours=3))
    just_stopped = make_session(user=driver, started_at=T0 + timedelta(hours=5), minutes=60)
    now = timezone.now()
    # Ages come from our own clock: the lost one was stored two minutes ago, the other one just now.
    Transaction.objects.filter(pk__in=[lost.pk, running.pk]).update(updated_at=now - timedelta(minutes=2))
    assert services.sessions_price_missing(now=now) == 1
    assert services.sessions_price_missing(now=now) == 0
    assert SessionCharge.objects.get().transaction == lost
    assert services.sessions_price_missing(now=now + timedelta(minutes=1)) == 1
    assert SessionCharge.objects.filter(transaction=just_stopped).exists()
    assert not SessionCharge.objects.filter(transaction=running).exists()


def test_a_session_still_running_is_not_priced(make_session, make_tariff, operator, driver):
    make_tariff()
    session = make_session(user=driver, stopped=False)
    assert services.session_charge_create(transaction_id=session.pk) is None
    assert not SessionCharge.objects.exists()


def test_a_missing_session_is_not_an_error(db):
    assert services.session_charge_create(transaction_id=987654) is None


def test_without_a_tariff_or_a_customer_the_session_is_recorded_but_not_billed(
    make_session, make_tariff, operator, driver
):
    unpriced = services.session_charge_create(transaction_id=make_session(user=driver).pk)
    assert unpriced.status == SessionCharge.Status.NO_TARIFF
    make_tariff()
    anonymous = services.session_charge_create(
        transaction_id=make_session(user=None, started_at=T0 + timedelta(hours=2)).pk
    )
    assert anonymous.status == SessionCharge.Status.NO_CUSTOMER
    assert anonymous.gross_amount > 0
    assert not Invoice.objects.exists()


def test_the_id_tokens_owner_is_billed_when_the_session_has_no_user(make_session, make_tariff, operator, driver):
    from accounts.models import IdToken

    make_tariff()
    session = make_session(user=None)
    session.id_token = IdToken.objects.create(token="CARD-1", owner=driver)
    session.save()
    assert services.session_charge_create(transaction_id=session.pk).user == driver


def test_zero_energy_session_is_free_and_not_invoiced(make_session, make_tariff, operator, driver):
    make_tariff(start_fee=D("2.00"))
    charge = services.session_charge_create(transaction_id=make_session(user=driver, energy_wh=0).pk)
    assert charge.status == SessionCharge.Status.FREE
    assert charge.breakdown["free_reason"] == "below_min_energy"
    assert not Invoice.objects.exists()


def test_tariff_change_mid_session_keeps_the_price_in_force_at_the_start(make_session, make_tariff, operator, driver):
    change = T0 + timedelta(minutes=30)
    old = make_tariff(name="Old", price_per_kwh=D("0.40"), valid_until=change)
    new = make_tariff(name="New", price_per_kwh=D("0.60"), valid_from=change)
    across = services.session_charge_create(transaction_id=make_session(user=driver, minutes=60).pk)
    later = services.session_charge_create(
        transaction_id=make_session(user=driver, started_at=change + timedelta(minutes=1)).pk
    )
    assert (across.tariff, across.net_amount) == (old, D("4.00"))
    assert (later.tariff, later.net_amount) == (new, D("6.00"))


def test_a_new_tariff_version_never_reprices_an_old_session(make_session, make_tariff, operator, driver):
    tariff = make_tariff(price_per_kwh=D("0.40"))
    charge = services.session_charge_create(transaction_id=make_session(user=driver).pk)
    new = services.tariff_new_version(tariff=tariff, valid_from=T0 + timedelta(days=1), price_per_kwh=D("0.90"))
    tariff.refresh_from_db()
    assert tariff.valid_until == new.valid_from
    charge.refresh_from_db()
    assert charge.net_amount == D("4.00")
    assert services.session_charge_create(transaction_id=charge.transaction_id).net_amount == D("4.00")
    later = services.session_charge_create(
        transaction_id=make_session(user=driver, started_at=T0 + timedelta(days=2)).pk
    )
    assert later.net_amount == D("9.00")


def test_tariff_precedence_group_then_station_then_site_then_network(
    station, site, make_station, make_tariff, driver, other_driver
):
    fleet = DriverGroup.objects.create(name="Fleet")
    fleet.members.add(driver)
    elsewhere = make_station(ocpp_id="CP-ELSEWHERE")
    network = make_tariff(name="Network")
    at_site = make_tariff(name="Site", site=site)
    at_station = make_tariff(name="Station", station=station)
    group_network = make_tariff(name="Fleet anywhere", driver_group=fleet)
    group_site = make_tariff(name="Fleet at site", driver_group=fleet, site=site)

    def chosen(user, where=station):
        return selectors.tariff_for(station=where, user=user, at=T0)

    assert chosen(driver) == group_site
    assert chosen(driver, elsewhere) == group_network
    assert chosen(other_driver) == at_station
    assert chosen(None) == at_station
    at_station.delete()
    assert chosen(other_driver) == at_site
    assert chosen(other_driver, elsewhere) == network
    group_site.delete()
    # A fleet's network-wide contract price beats the site's public price.
    assert chosen(driver) == group_network


def test_the_latest_version_in_force_wins_within_a_level(station, make_tariff):
    make_tariff(name="2020")
    newer = make_tariff(name="2024", valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    make_tariff(name="future", valid_from=datetime(2030, 1, 1, tzinfo=UTC))
    assert selectors.tariff_for(station=station, at=T0) == newer
    assert selectors.tariff_for(station=station, at=datetime(2019, 1, 1, tzinfo=UTC)) is None


def test_idle_fee_from_status_history_and_a_flat_meter(make_session, make_tariff, operator, driver):
    make_tariff(price_per_kwh=D("0"), idle_price_per_minute=D("0.10"), idle_grace_minutes=10, min_billable_energy_wh=1)
    samples = [
        (T0 + timedelta(minutes=m), 1_000_000 + v)
        for m, v in [(15, 3_000), (30, 6_000), (45, 8_000), (60, 8_000), (75, 8_000)]
    ]
    statuses = [
        (T0, "Preparing"),
        (T0 + timedelta(seconds=30), "Charging"),
        (T0 + timedelta(minutes=40), "SuspendedEV"),
    ]
    session = make_session(user=driver, minutes=90, energy_wh=8_000, samples=samples, statuses=statuses)
    charge = services.session_charge_create(transaction_id=session.pk)
    assert charge.idle_seconds == 50 * 60
    assert charge.net_amount == D("4.00")  # (50 - 10) min x 0.10


def test_meter_reset_during_a_session_bills_the_energy_really_delivered(make_session, make_tariff, operator, driver):
    make_tariff(price_per_kwh=D("1.00"))
    samples = [(T0 + timedelta(minutes=15), 5_002_000), (T0 + timedelta(minutes=30), 1_000)]
    session = make_session(user=driver, meter_start=5_000_000, minutes=45, samples=samples, energy_wh=0)
    session.meter_stop = 3_000
    session.save()
    charge = services.session_charge_create(transaction_id=session.pk)
    assert charge.energy_wh == 5_000  # 2 kWh before the reset, 1 kWh up to the sample after it, 2 kWh after
    assert charge.net_amount == D("5.00")


def test_three_phase_registers_are_added_up(make_session, make_tariff, operator, driver, station):
    from sessions.models import MeterSample

    make_tariff(price_per_kwh=D("1.00"))
    session = make_session(user=driver, meter_start=3_000, energy_wh=3_000, samples=[])
    MeterSample.objects.bulk_create(
        [
            MeterSample(
                transaction=session,
                station=station,
                connector_id=1,
                timestamp=T0 + timedelta(minutes=30),
                measurand="Energy.Active.Import.Register",
                phase=phase,
                location="Outlet",
                unit="Wh",
                value=1_500,
            )
            for phase in ("L1", "L2", "L3")
        ]
    )
    assert selectors.session_usage(session).curve[1][1] == 1_500


def test_running_cost_of_an_active_session(make_session, make_tariff, operator, driver):
    make_tariff(price_per_kwh=D("0.50"), price_per_minute=D("0.01"))
    samples = [(T0 + timedelta(minutes=15), 1_002_000), (T0 + timedelta(minutes=30), 1_004_000)]
    session = make_session(user=driver, stopped=False, samples=samples)
    cost = selectors.session_running_cost(session, at=T0 + timedelta(minutes=30))
    assert cost.energy_wh == 4_000
    assert cost.price.net == D("2.30")  # 4 kWh x 0.50 + 30 min x 0.01
    assert not SessionCharge.objects.exists()
    assert not Subscription.objects.exists()


def test_estimate_before_starting(station, make_tariff, driver):
    standard = make_tariff(price_per_kwh=D("0.40"), start_fee=D("1.00"))
    tariff, price = selectors.session_price_estimate(station=station, user=driver, energy_wh=30_000, minutes=60)
    assert tariff == standard
    assert price.net == D("13.00")
    assert price.gross == D("15.47")


def test_included_energy_of_a_subscription_is_consumed_once(make_session, make_tariff, operator, funded_driver):
    make_tariff(price_per_kwh=D("0.50"))
    plan = SubscriptionPlan.objects.create(
        name="Commuter", monthly_fee=D("10"), currency="EUR", included_energy_wh=15_000, operator=operator
    )
    subscription = Subscription.objects.create(
        user=funded_driver,
        plan=plan,
        started_at=T0 - timedelta(days=1),
        current_period_start=T0 - timedelta(days=1),
        current_period_end=T0 + timedelta(days=29),
    )
    first = services.session_charge_create(transaction_id=make_session(user=funded_driver, energy_wh=10_000).pk)
    second = services.session_charge_create(
        transaction_id=make_session(user=funded_driver, energy_wh=10_000, started_at=T0 + timedelta(hours=3)).pk
    )
    services.session_charge_create(transaction_id=first.transaction_id)
    subscription.refresh_from_db()
    assert subscription.included_wh_used == 15_000
    assert (first.included_energy_wh, first.net_amount) == (10_000, D("0.00"))
    assert (second.included_energy_wh, second.net_amount) == (5_000, D("2.50"))


def test_the_sweep_leaves_stops_of_unknown_transactions_unpriced(make_session, make_tariff, operator, driver):
    from sessions.models import Transaction

    make_tariff()
    unmatched = make_session(user=driver)
    Transaction.objects.filter(pk=unmatched.pk).update(status=Transaction.Status.UNMATCHED)
    assert services.sessions_price_missing(now=timezone.now() + timedelta(hours=1)) == 0
    assert not SessionCharge.objects.exists()
