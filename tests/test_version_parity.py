"""Same behaviour, same results: a 1.6 station and a 2.0.1 station charging the same car with the same card, at the
same moments with the same meter readings, end with the same session, the same charge and invoice line, and
the same analytics rows.

Both stations are the `ocpp` library's clients talking to the running daphne server, each in its version's
words: 1.6 with StartTransaction / MeterValues / StatusNotification (Charging, SuspendedEV) / StopTransaction,
2.0.1 with TransactionEvent Started / Updated (chargingState) / Ended. Then the billing app prices both stops
and the analytics app rebuilds the day, as their own services do.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.forms.models import model_to_dict
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action

from accounts.models import IdToken
from analytics import rollups
from analytics.models import ConnectorDay, RevenueDay, SiteHour
from billing.models import InvoiceLine, Operator, SessionCharge, Tariff
from billing.services import session_charge_create
from sessions.models import Transaction
from stations.models import Site, Station
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)

TAG = "PARITY-CARD-1"
T0 = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)  # 09:00 in Berlin, a Wednesday
DAY = date(2026, 3, 4)
PLUG_IN, START, FULL, STOP, UNPLUG = 0, 1, 55, 91, 92  # minutes after T0
METER_START, METER_FULL = 1_000_000, 1_018_000
# What the meter reads while the car charges and after it is full (minutes after T0, Wh, W, SoC %).
READINGS = [
    (16, 1_005_000, 20_000, 42),
    (31, 1_010_000, 20_000, 55),
    (46, 1_015_000, 20_000, 68),
    (FULL, METER_FULL, 0, 80),
    (61, METER_FULL, 0, 80),
]
# Changed by the car at FULL: it stops drawing; the station says so in its version's words.
SUSPENDED_AT = FULL


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


# The 1.6 station


def sample16(minutes, wh, watts, soc, context="Sample.Periodic"):
    return {
        "timestamp": at(minutes),
        "sampled_value": [
            {"value": str(wh), "context": context, "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": str(watts), "context": context, "measurand": "Power.Active.Import", "unit": "W"},
            {"value": str(soc), "context": context, "measurand": "SoC", "unit": "Percent", "location": "EV"},
        ],
    }


def status16(minutes, status):
    return call16.StatusNotification(connector_id=1, error_code="NoError", status=status, timestamp=at(minutes))


def timeline(readings):
    """Each moment something happens after the start: (minutes, the reading then or None, whether the car stops)."""
    by_minute = {reading[0]: reading for reading in readings}
    return [(m, by_minute.get(m), m == SUSPENDED_AT) for m in sorted({*by_minute, SUSPENDED_AT})]


async def charge_16(cp, readings) -> None:
    await cp.call(call16.BootNotification(charge_point_vendor="Parity", charge_point_model="One"))
    await cp.call(status16(-60, "Available"))
    await cp.call(status16(PLUG_IN, "Preparing"))
    assert (await cp.call(call16.Authorize(id_tag=TAG))).id_tag_info["status"] == "Accepted"
    started = await cp.call(
        call16.StartTransaction(connector_id=1, id_tag=TAG, meter_start=METER_START, timestamp=at(START))
    )
    await cp.call(status16(START, "Charging"))
    for minutes, reading, suspended in timeline(readings):
        if reading:
            await cp.call(
                call16.MeterValues(
                    connector_id=1, transaction_id=started.transaction_id, meter_value=[sample16(*reading)]
                )
            )
        if suspended:
            await cp.call(status16(minutes, "SuspendedEV"))
    await cp.call(
        call16.StopTransaction(
            meter_stop=METER_FULL,
            timestamp=at(STOP),
            transaction_id=started.transaction_id,
            reason="EVDisconnected",
            transaction_data=[
                sample16(START, METER_START, 0, 30, "Transaction.Begin"),
                sample16(STOP, METER_FULL, 0, 80, "Transaction.End"),
            ],
        )
    )
    await cp.call(status16(STOP, "Finishing"))
    await cp.call(status16(UNPLUG, "Available"))


# The 2.0.1 station


class Station201(ChargePoint201):
    """Answers the CSMS's request for its device model (it has nothing to report for this test)."""

    @on(Action.get_base_report)
    def on_get_base_report(self, **_):
        return result201.GetBaseReport(status="NotSupported")


def sample201(minutes, wh, watts, soc, context="Sample.Periodic"):
    def value(number, measurand, unit, **extra):
        return {"value": number, "context": context, "measurand": measurand, "unit_of_measure": {"unit": unit}, **extra}

    return {
        "timestamp": at(minutes),
        "sampled_value": [
            value(wh, "Energy.Active.Import.Register", "Wh"),
            value(watts, "Power.Active.Import", "W"),
            value(soc, "SoC", "Percent", location="EV"),
        ],
    }


def status201(minutes, status):
    return call201.StatusNotification(timestamp=at(minutes), connector_status=status, evse_id=1, connector_id=1)


async def charge_201(cp, readings) -> None:
    seq = iter(range(100))

    def event(event_type, minutes, trigger, meter_value, **info):
        return call201.TransactionEvent(
            event_type=event_type,
            timestamp=at(minutes),
            trigger_reason=trigger,
            seq_no=next(seq),
            transaction_info={"transaction_id": "PARITY-TX-1", **info},
            evse={"id": 1, "connector_id": 1},
            meter_value=[meter_value] if meter_value else None,
            **({"id_token": {"id_token": TAG, "type": "ISO14443"}} if event_type == "Started" else {}),
        )

    boot = call201.BootNotification(charging_station={"vendor_name": "Parity", "model": "One"}, reason="PowerUp")
    await cp.call(boot)
    await cp.call(status201(-60, "Available"))
    await cp.call(status201(PLUG_IN, "Occupied"))
    id_token = {"id_token": TAG, "type": "ISO14443"}
    assert (await cp.call(call201.Authorize(id_token=id_token))).id_token_info["status"] == "Accepted"
    begin = sample201(START, METER_START, 0, 30, "Transaction.Begin")
    started = await cp.call(event("Started", START, "Authorized", begin, charging_state="Charging"))
    assert started.id_token_info["status"] == "Accepted"
    for minutes, reading, suspended in timeline(readings):
        sample = sample201(*reading) if reading else None
        if suspended:
            await cp.call(event("Updated", minutes, "ChargingStateChanged", sample, charging_state="SuspendedEV"))
        else:
            await cp.call(event("Updated", minutes, "MeterValuePeriodic", sample))
    end = sample201(STOP, METER_FULL, 0, 80, "Transaction.End")
    await cp.call(
        event("Ended", STOP, "EVCommunicationLost", end, charging_state="EVConnected", stopped_reason="EVDisconnected")
    )
    await cp.call(status201(UNPLUG, "Available"))


# The comparison


@sync_to_async
def network(driver):
    """Two stations at two sites alike, registered before the day; a tariff with every kind of price."""
    stations = {}
    for version in ("1.6", "2.0.1"):
        site = Site.objects.create(name=f"Site {version}", timezone="Europe/Berlin")
        station = Station(ocpp_id=f"PARITY-{version.replace('.', '')}", site=site)
        station.set_password(STATION_PASSWORD)
        station.save()
        stations[version] = station
    Station.objects.filter(pk__in=[s.pk for s in stations.values()]).update(created_at=T0 - timedelta(days=2))
    Operator.objects.create(name="Parity Energy", legal_name="Parity Energy GmbH", is_default=True)
    Tariff.objects.create(
        name="Everything",
        currency="EUR",
        tax_rate=Decimal("19"),
        valid_from=datetime(2020, 1, 1, tzinfo=UTC),
        price_per_kwh=Decimal("0.39"),
        price_per_minute=Decimal("0.02"),
        start_fee=Decimal("0.50"),
        idle_price_per_minute=Decimal("0.10"),
        idle_grace_minutes=10,
    )
    IdToken.objects.create(token=TAG, owner=driver)
    return stations


SESSION_FIELDS = [
    "connector_id",
    "id_tag",
    "id_token",
    "user",
    "authorization_status",
    "started_at",
    "stopped_at",
    "meter_start",
    "meter_stop",
    "energy_wh",
    "status",
    "stop_reason",
    "meter_mismatch",
    "anomalies",
]
CHARGE_FIELDS = [
    "status",
    "tariff",
    "operator",
    "user",
    "currency",
    "energy_wh",
    "included_energy_wh",
    "charging_seconds",
    "idle_seconds",
    "net_amount",
    "tax_rate",
    "tax_amount",
    "gross_amount",
    "breakdown",
    "session_started_at",
]
LINE_FIELDS = ["quantity", "unit", "unit_price", "net_amount", "tax_rate", "tax_amount", "gross_amount"]
NOT_COMPARED = {"id", "station", "site"}


def rows(queryset) -> list[dict]:
    return [
        {key: value for key, value in model_to_dict(row).items() if key not in NOT_COMPARED}
        for row in queryset.order_by("pk")
    ]


@sync_to_async
def priced(station) -> None:
    session_charge_create(transaction_id=Transaction.objects.get(station=station).pk)


@sync_to_async
def results(station) -> dict:
    session = Transaction.objects.get(station=station)
    charge = SessionCharge.objects.get(transaction=session)
    lines = InvoiceLine.objects.filter(session_charge=charge)
    return {
        "session": {field: getattr(session, field) for field in SESSION_FIELDS},
        "duration": session.stopped_at - session.started_at,
        "charge": model_to_dict(charge, fields=CHARGE_FIELDS),
        "invoice lines": [model_to_dict(line, fields=LINE_FIELDS) for line in lines],
        "connector days": rows(ConnectorDay.objects.filter(station=station, day=DAY)),
        "revenue days": rows(RevenueDay.objects.filter(station=station, day=DAY)),
        "site hours": rows(SiteHour.objects.filter(site=station.site).exclude(sessions=0, energy_wh=0)),
    }


@pytest.fixture
async def both_charged(daphne_server, driver):
    return await charged_alike(daphne_server, driver, READINGS)


@pytest.fixture
async def both_charged_no_reading_when_full(daphne_server, driver):
    """The car stops drawing between two readings: only the status (1.6) or chargingState (2.0.1) says when."""
    return await charged_alike(daphne_server, driver, [reading for reading in READINGS if reading[0] != FULL])


async def charged_alike(daphne_server, driver, readings) -> dict:
    stations = await network(driver)
    # One after the other: the card charges at one place at a time.
    async with ocpp_connection(daphne_server, stations["1.6"].ocpp_id, STATION_PASSWORD) as cp:
        await charge_16(cp, readings)
    async with ocpp_connection(
        daphne_server, stations["2.0.1"].ocpp_id, STATION_PASSWORD, ("ocpp2.0.1",), Station201
    ) as cp:
        await charge_201(cp, readings)
    for station in stations.values():
        await until(lambda s=station: Transaction.objects.filter(station=s, status="completed").aexists())
    # The stops' pricing jobs are queued for a worker; pricing is idempotent, so the billing service runs here.
    for station in stations.values():
        await priced(station)
    await sync_to_async(rollups.rebuild_days)(d0=DAY, d1=DAY)
    return {version: await results(station) for version, station in stations.items()}


async def test_the_same_session_from_either_version_is_stored_priced_and_invoiced_alike(both_charged):
    v16, v201 = both_charged["1.6"], both_charged["2.0.1"]
    assert v16["session"] == v201["session"]
    assert v16["session"]["energy_wh"] == METER_FULL - METER_START
    assert (v16["session"]["status"], v16["session"]["stop_reason"], v16["duration"]) == (
        "completed",
        "EVDisconnected",
        timedelta(minutes=STOP - START),
    )
    assert v16["session"]["id_tag"] == TAG and v16["session"]["user"] is not None
    assert v16["charge"] == v201["charge"]
    # 90 minutes, the car full after 54: 36 minutes idle, 26 of them past the grace.
    assert (v16["charge"]["charging_seconds"], v16["charge"]["idle_seconds"]) == (54 * 60, 36 * 60)
    assert v16["charge"]["status"] == SessionCharge.Status.BILLABLE and v16["charge"]["gross_amount"] > 0
    assert v16["invoice lines"] == v201["invoice lines"] and len(v16["invoice lines"]) == 1


async def test_the_same_session_from_either_version_gives_the_same_analytics(both_charged):
    v16, v201 = both_charged["1.6"], both_charged["2.0.1"]
    assert v16["revenue days"] == v201["revenue days"] and len(v16["revenue days"]) == 1
    assert v16["site hours"] == v201["site hours"] and v16["site hours"]
    day16, day201 = v16["connector days"], v201["connector days"]
    assert len(day16) == len(day201) == 1
    assert day16[0]["energy_wh"] == METER_FULL - METER_START and day16[0]["sessions"] == 1
    assert day16[0]["occupied_s"] == (UNPLUG - PLUG_IN) * 60
    assert without(day16[0], STATE_SECONDS) == without(day201[0], STATE_SECONDS)


def without(row: dict, keys) -> dict:
    return {key: value for key, value in row.items() if key not in keys}


# Time in a state a 1.6 station names in StatusNotification and a 2.0.1 station in TransactionEvent.chargingState.
STATE_SECONDS = ("charging_s", "idle_s")


async def test_charging_and_idle_time_of_a_2_0_1_station_count_as_a_1_6_stations(both_charged):
    day16, day201 = both_charged["1.6"]["connector days"][0], both_charged["2.0.1"]["connector days"][0]
    assert {key: day16[key] for key in STATE_SECONDS} == {key: day201[key] for key in STATE_SECONDS}


async def test_the_idle_fee_starts_when_either_version_says_the_car_stopped(both_charged_no_reading_when_full):
    v16, v201 = both_charged_no_reading_when_full["1.6"], both_charged_no_reading_when_full["2.0.1"]
    assert v16["charge"]["idle_seconds"] == (STOP - FULL) * 60
    assert v16["charge"] == v201["charge"]
