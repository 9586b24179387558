"""A small network with two days of history whose every figure is computed by hand in the tests.

Monday 2 and Tuesday 3 March 2026, UTC (the test settings' TIME_ZONE):

- CP-A (site North, model M1, firmware 1.0), connectors 1 and 2; CP-B (site South, M2, 2.0), connector 1.
- T1 CP-A/1 driver1 Mon 10:00-12:00, 20 kWh, register sample 11:00 at +12 kWh.
- T2 CP-A/2 driver2 Mon 23:00-Tue 01:00 (crosses midnight), 10 kWh, register sample 00:00 at +6 kWh.
- T5 CP-B/1 card CARD-X Mon 10:00-10:30, 2 kWh, no samples (split linearly).
- T3 CP-B/1 card CARD-X Tue 08:00-08:30, 3 kWh, no samples.
- T4 CP-A/1 driver1 Tue 22:00, still charging, register sample 22:30 at +2 kWh.
- CP-B/1 Mon 09:00-09:20: a start refused (Invalid card) that the station charged 1.5 kWh for anyway, and
  a stop for a transaction the CSMS never issued: neither is a session, so no figure counts them.
- CP-A/1 Faulted (GroundFailure) Tue 14:00-16:00; CP-A connector 0 Unavailable Tue 03:00-04:00;
  CP-A offline Tue 03:30-05:00.
- CP-B/1 Faulted (PowerMeterFailure) Mon 18:00-Tue 02:00 (repeated at 18:30: the same fault);
  CP-B offline from Tue 20:00, still offline.
"""

from datetime import UTC, datetime

import pytest

from accounts.roles import Role

MON = datetime(2026, 3, 2, tzinfo=UTC)
NOW = datetime(2026, 3, 10, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def network(db, django_user_model):
    from accounts.models import IdToken
    from analytics.models import StationOfflinePeriod
    from sessions.models import MeterSample, Transaction
    from stations.models import Connector, ConnectorStatusEvent, Site, Station

    north = Site.objects.create(name="North")
    south = Site.objects.create(name="South")
    cp_a = Station.objects.create(ocpp_id="CP-A", site=north, model="M1", firmware_version="1.0", vendor="V")
    cp_b = Station.objects.create(ocpp_id="CP-B", site=south, model="M2", firmware_version="2.0", vendor="V")
    Station.objects.filter(pk__in=[cp_a.pk, cp_b.pk]).update(created_at=datetime(2026, 3, 1, tzinfo=UTC))
    for station, connector_id in [(cp_a, 1), (cp_a, 2), (cp_b, 1)]:
        Connector.objects.create(station=station, connector_id=connector_id)
    driver1 = django_user_model.objects.create_user(email="driver1@example.com", password="x-pass-12345")
    driver2 = django_user_model.objects.create_user(email="driver2@example.com", password="x-pass-12345")

    card = IdToken.objects.create(token="CARD-X")

    def session(station, connector_id, start, stop, meter_start, energy, user=None, token=None, samples=(), status=""):
        tx = Transaction.objects.create(
            station=station,
            connector_id=connector_id,
            started_at=start,
            stopped_at=stop,
            meter_start=meter_start,
            meter_stop=None if stop is None else meter_start + energy,
            energy_wh=None if stop is None else energy,
            status=status or ("active" if stop is None else "completed"),
            user=user,
            id_token=token,
            id_tag=token.token if token else user.email[:20],
        )
        for timestamp, register in samples:
            MeterSample.objects.create(
                transaction=tx,
                station=station,
                connector_id=connector_id,
                timestamp=timestamp,
                measurand="Energy.Active.Import.Register",
                value=meter_start + register,
                unit="Wh",
            )
            # A power sample beside it must not be mistaken for energy.
            MeterSample.objects.create(
                transaction=tx,
                station=station,
                connector_id=connector_id,
                timestamp=timestamp,
                measurand="Power.Active.Import",
                value=11000,
                unit="W",
            )
        return tx

    session(cp_a, 1, at(2, 10), at(2, 12), 1000, 20000, user=driver1, samples=[(at(2, 11), 12000)])
    session(cp_a, 2, at(2, 23), at(3, 1), 0, 10000, user=driver2, samples=[(at(3, 0), 6000)])
    session(cp_b, 1, at(2, 10), at(2, 10, 30), 0, 2000, token=card)
    session(cp_b, 1, at(3, 8), at(3, 8, 30), 500, 3000, token=card)
    session(cp_a, 1, at(3, 22), None, 5000, None, user=driver1, samples=[(at(3, 22, 30), 2000)])
    session(cp_b, 1, at(2, 9), at(2, 9, 20), 100, 1500, token=card, status="refused")
    Transaction.objects.create(
        station=cp_b,
        connector_id=0,
        status="unmatched",
        ocpp_transaction_id="STATION-77",  # a station's own id: never one the CSMS numbers (str of a key)
        started_at=at(2, 9),
        stopped_at=at(2, 9, 20),
        meter_stop=4000,
        energy_wh=None,
    )

    def statuses(station, connector_id, *events):
        for timestamp, status, *error in events:
            ConnectorStatusEvent.objects.create(
                station=station,
                connector_id=connector_id,
                status=status,
                timestamp=timestamp,
                error_code=error[0] if error else "NoError",
            )

    statuses(
        cp_a,
        1,
        (at(1, 20), "Available"),
        (at(2, 9, 55), "Preparing"),
        (at(2, 10), "Charging"),
        (at(2, 11, 30), "SuspendedEV"),
        (at(2, 12), "Finishing"),
        (at(2, 12, 10), "Available"),
        (at(3, 14), "Faulted", "GroundFailure"),
        (at(3, 16), "Available"),
        (at(3, 21, 55), "Preparing"),
        (at(3, 22), "Charging"),
    )
    statuses(
        cp_a,
        2,
        (at(1, 20), "Available"),
        (at(2, 22, 58), "Preparing"),
        (at(2, 23), "Charging"),
        (at(3, 1), "Finishing"),
        (at(3, 1, 5), "Available"),
    )
    statuses(cp_a, 0, (at(1, 20), "Available"), (at(3, 3), "Unavailable"), (at(3, 4), "Available"))
    statuses(
        cp_b,
        1,
        (at(2, 10), "Charging"),
        (at(2, 10, 30), "Available"),
        (at(2, 18), "Faulted", "PowerMeterFailure"),
        (at(2, 18, 30), "Faulted", "PowerMeterFailure"),
        (at(3, 2), "Available"),
        (at(3, 7, 55), "Preparing"),
        (at(3, 8), "Charging"),
        (at(3, 8, 30), "Available"),
    )
    StationOfflinePeriod.objects.create(station=cp_a, started_at=at(3, 3, 30), ended_at=at(3, 5))
    StationOfflinePeriod.objects.create(station=cp_b, started_at=at(3, 20))
    return {"north": north, "south": south, "cp_a": cp_a, "cp_b": cp_b, "driver1": driver1, "driver2": driver2}


@pytest.fixture
def rolled_up(network):
    from analytics.rollups import rebuild_days

    rebuild_days(d0=MON.date(), d1=at(3, 0).date(), now=NOW)
    return network


@pytest.fixture
def staff_user(db, django_user_model):
    """A staff member with the given roles (Django groups)."""
    from django.contrib.auth.models import Group

    def make(*roles: Role, email="staff@example.com"):
        user = django_user_model.objects.create_user(email=email, password="staff-pass-123", is_staff=True)
        for role in roles:
            user.groups.add(Group.objects.get_or_create(name=str(role))[0])
        return user

    return make


@pytest.fixture
def billed(rolled_up):
    """T1 and T2 on 'Standard' (8.00 and 4.00 net, 19 % tax), T3 on 'Fleet' (1.00); T5 had no customer.

    Invoice 1 (driver1, 9.52) was paid by card on Tuesday; invoice 2 (driver2, 4.76) is open, due Tuesday.
    """
    from decimal import Decimal as D

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
            transaction=tx,
            status=status,
            tariff=tariff,
            operator=operator,
            user=user,
            currency="EUR",
            energy_wh=tx.energy_wh,
            charging_seconds=0,
            idle_seconds=0,
            net_amount=net,
            tax_rate=19,
            tax_amount=tax,
            gross_amount=net + tax,
            session_started_at=tx.started_at,
        )

    charge(("CP-A", 1, at(2, 10)), standard, "8.00", rolled_up["driver1"])
    charge(("CP-A", 2, at(2, 23)), standard, "4.00", rolled_up["driver2"])
    charge(("CP-B", 1, at(3, 8)), fleet, "1.00")
    charge(("CP-B", 1, at(2, 10)), None, "0.00", status="no_customer")
    paid = Invoice.objects.create(
        operator=operator,
        customer=rolled_up["driver1"],
        purpose="session",
        status="paid",
        number="INV-1",
        currency="EUR",
        issued_at=at(2, 12),
        gross_total=D("9.52"),
    )
    Payment.objects.create(
        invoice=paid,
        user=rolled_up["driver1"],
        method="card",
        amount=D("9.52"),
        currency="EUR",
        status="succeeded",
        succeeded_at=at(3, 10),
    )
    unpaid = Invoice.objects.create(
        operator=operator,
        customer=rolled_up["driver2"],
        purpose="session",
        status="open",
        number="INV-2",
        currency="EUR",
        issued_at=at(3, 1),
        due_at=at(3, 1),
        gross_total=D("4.76"),
    )
    Payment.objects.create(
        invoice=unpaid,
        user=rolled_up["driver2"],
        method="wallet",
        amount=D("4.76"),
        currency="EUR",
        status="failed",
        attempts=2,
    )
    rebuild_days(d0=MON.date(), d1=at(3, 0).date(), now=NOW)
    return {**rolled_up, "standard": standard, "fleet": fleet}
