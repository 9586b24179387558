"""Sessions stored with absurd data (future starts, reversed times, impossible meter values) are priced by a
rule or held for review with the reason on the session; the sweep never stops at one of them."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from billing import services
from billing.models import SessionCharge
from sessions.anomalies import anomaly_codes
from sessions.models import Transaction
from tests.billing.conftest import T0

D = Decimal
FAR_FUTURE = datetime(2099, 1, 1, tzinfo=UTC)


def stored_as(session, **fields) -> Transaction:
    """Rewrite a session's row as an older release of the OCPP side may have stored it."""
    Transaction.objects.filter(pk=session.pk).update(**fields)
    return Transaction.objects.get(pk=session.pk)


def test_the_issues_glitched_session_is_billed_for_what_meter_stop_minus_meter_start_proves(
    make_session, make_tariff, operator, funded_driver
):
    make_tariff(price_per_kwh=D("0.60"))
    readings = [101_000, 102_000, 0, 103_000, 104_000]
    session = make_session(
        user=funded_driver,
        meter_start=100_000,
        energy_wh=5_000,
        samples=[(T0 + timedelta(minutes=10 * (index + 1)), value) for index, value in enumerate(readings)],
    )
    charge = services.session_charge_create(transaction_id=session.pk)
    assert (charge.energy_wh, charge.gross_amount) == (5_000, D("3.57"))
    session.refresh_from_db()
    assert anomaly_codes(session) == ["meter_glitch"]
    assert f"0 Wh at {(T0 + timedelta(minutes=30)).isoformat()}" in session.anomalies[0]["detail"]


def test_a_session_that_stopped_before_it_started_is_held_with_its_reason(make_session, make_tariff, driver):
    make_tariff()
    session = stored_as(make_session(user=driver, meter_start=-100), started_at=FAR_FUTURE)
    charge = services.session_charge_create(transaction_id=session.pk)
    assert charge.status == SessionCharge.Status.HELD
    assert (charge.gross_amount, charge.invoice) == (0, None)
    assert "before it started" in charge.breakdown["held"]
    session.refresh_from_db()
    assert anomaly_codes(session) == ["pricing_held"]
    assert services.session_charge_create(transaction_id=session.pk) == charge  # held once, not again


def test_sessions_in_the_future_or_lasting_months_are_held(make_session, make_tariff, driver):
    make_tariff()
    future = make_session(user=driver, started_at=FAR_FUTURE)
    months = make_session(user=driver, started_at=T0 - timedelta(days=90), minutes=90 * 24 * 60)
    assert services.session_charge_create(transaction_id=future.pk).status == SessionCharge.Status.HELD
    assert services.session_charge_create(transaction_id=months.pk).status == SessionCharge.Status.HELD
    assert "future" in SessionCharge.objects.get(transaction=future).breakdown["held"]
    assert "longer than 31 days" in SessionCharge.objects.get(transaction=months).breakdown["held"]


def test_impossible_meter_values_are_discarded_and_the_rest_is_priced(make_session, make_tariff, driver, operator):
    make_tariff(price_per_kwh=D("0.40"))
    session = make_session(
        user=driver,
        meter_start=10_000,
        energy_wh=4_000,
        samples=[
            (T0 + timedelta(minutes=15), 11_000),
            (T0 + timedelta(minutes=30), -5),
            (T0 + timedelta(minutes=45), 1e18),
        ],
    )
    session = stored_as(session, meter_stop=2**63 - 1)
    charge = services.session_charge_create(transaction_id=session.pk)
    # meterStop is beyond any register: the energy is what the readings before it show.
    assert (charge.status, charge.energy_wh) == (SessionCharge.Status.BILLABLE, 1_000)
    session.refresh_from_db()
    assert anomaly_codes(session) == ["meter_glitch"] * 3


def test_a_price_beyond_any_amount_is_held_not_an_overflow(make_session, make_tariff, driver, operator):
    make_tariff(price_per_kwh=D("99999999.99"))
    session = make_session(user=driver, energy_wh=200_000)
    charge = services.session_charge_create(transaction_id=session.pk)
    assert charge.status == SessionCharge.Status.HELD
    assert "would cost" in charge.breakdown["held"]


def test_the_sweep_holds_what_it_cannot_price_records_why_and_prices_the_rest(
    make_session, make_tariff, operator, driver, caplog
):
    from stations.models import Site

    make_tariff(
        periods=[
            {
                "name": "Night",
                "weekdays": "1234567",
                "start_time": time(22),
                "end_time": time(6),
                "price_per_kwh": D("0.30"),
            }
        ]
    )
    reversed_times = stored_as(make_session(user=driver, meter_start=-100), started_at=FAR_FUTURE)
    ancient = stored_as(
        make_session(user=driver, started_at=T0 + timedelta(hours=2)), started_at=datetime(1970, 1, 1, tzinfo=UTC)
    )
    good = [make_session(user=driver, started_at=T0 + timedelta(hours=4 + hour)) for hour in range(3)]
    # A station whose site has a broken time zone: pricing it fails with an error no rule foresaw.
    broken_site = Site.objects.create(name="Broken", timezone="Mars/Olympus_Mons")
    broken = make_session(user=driver, started_at=T0 + timedelta(hours=9), on=_station_at(broken_site))
    Transaction.objects.update(updated_at=timezone.now() - timedelta(minutes=5))

    assert services.sessions_price_missing() == 5

    statuses = dict(SessionCharge.objects.values_list("transaction_id", "status"))
    assert statuses[reversed_times.pk] == statuses[ancient.pk] == SessionCharge.Status.HELD
    assert all(statuses[session.pk] == SessionCharge.Status.BILLABLE for session in good)
    assert broken.pk not in statuses
    broken.refresh_from_db()
    assert anomaly_codes(broken) == ["pricing_failed"]
    assert "session not priced" in caplog.text
    # The failed one is tried again by the next run; it adds no second record of the same failure.
    assert services.sessions_price_missing() == 0
    broken.refresh_from_db()
    assert anomaly_codes(broken) == ["pricing_failed"]


def _station_at(site):
    from stations.models import Station

    return Station.objects.create(ocpp_id="CP-BROKEN", site=site)


def test_a_station_sending_many_bad_readings_gets_the_first_ones_and_a_count(make_session, make_tariff, driver):
    make_tariff()
    zeros = [(T0 + timedelta(minutes=minute), 0) for minute in range(1, 31)]
    session = make_session(user=driver, meter_start=50_000, energy_wh=3_000, samples=zeros)
    assert services.session_charge_create(transaction_id=session.pk).energy_wh == 3_000
    session.refresh_from_db()
    assert anomaly_codes(session) == ["meter_glitch"] * 21
    assert session.anomalies[-1]["detail"] == "and 10 more readings set aside"
