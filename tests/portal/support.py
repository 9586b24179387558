"""A small network for the operator's network and charging pages: two sites, stations in each state, a finished
session priced onto an issued invoice with its meter curve and authorisation, and one still charging."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import Group

SESSION_TOKEN = "TAG-PORTAL-1"


def make_staff(django_user_model, role: str, email: str | None = None):
    user = django_user_model.objects.create_user(
        email=email or f"{role}@example.com", password=f"{role}-pass-123", is_staff=True
    )
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@dataclass
class PortalNetwork:
    depot: object
    town: object
    online: object  # CP-DEPOT-1: online, OCPP 1.6, accepted
    faulted: object  # CP-DEPOT-2: online, OCPP 2.0.1, a connector Faulted
    pending: object  # CP-TOWN-1: offline, pending, never connected
    session: object  # finished at CP-DEPOT-1, priced, on an issued invoice
    active_session: object  # charging at CP-DEPOT-2
    driver: object
    invoice: object


def build_network(*, make_station, driver) -> PortalNetwork:
    from accounts.models import IdToken, IdTokenEvent
    from billing.models import Operator, Tariff
    from billing.services import session_charge_create
    from sessions.models import MeterSample, Transaction
    from stations.models import Connector, Site, Station

    depot = Site.objects.create(name="Depot", address="Hafenstr. 3", timezone="Europe/Berlin")
    town = Site.objects.create(name="Town", timezone="Europe/Berlin")
    now = datetime.now(UTC)
    online = make_station(ocpp_id="CP-DEPOT-1", name="Depot left", site=depot)
    faulted = make_station(ocpp_id="CP-DEPOT-2", site=depot)
    pending = make_station(ocpp_id="CP-TOWN-1", site=town, registration_status=Station.RegistrationStatus.PENDING)
    Station.objects.filter(pk=online.pk).update(
        is_online=True, ocpp_version="1.6", last_seen_at=now - timedelta(minutes=1), serial_number="SN-0042"
    )
    Station.objects.filter(pk=faulted.pk).update(is_online=True, ocpp_version="2.0.1", last_seen_at=now)
    Connector.objects.create(station=online, connector_id=1, status="Available")
    Connector.objects.create(station=faulted, connector_id=1, status="Faulted", error_code="GroundFailure")
    Connector.objects.create(station=faulted, connector_id=2, status="Charging")

    Operator.objects.create(
        name="Voltgrid Energy",
        legal_name="Voltgrid Energy GmbH",
        address="Hauptstr. 1\n10115 Berlin",
        vat_id="DE318274615",
        timezone="Europe/Berlin",
        invoice_prefix="VG-",
        is_default=True,
    )
    Tariff.objects.create(
        name="Standard",
        currency="EUR",
        tax_rate=Decimal("19"),
        valid_from=datetime(2020, 1, 1, tzinfo=UTC),
        price_per_kwh=Decimal("0.40"),
        start_fee=Decimal("1.00"),
    )
    card = IdToken.objects.create(token=SESSION_TOKEN, owner=driver)
    started = now - timedelta(hours=3)
    session = Transaction.objects.create(
        station=online,
        connector_id=1,
        id_tag=SESSION_TOKEN,
        id_token=card,
        user=driver,
        meter_start=1_000,
        meter_stop=21_000,
        energy_wh=20_000,
        started_at=started,
        stopped_at=started + timedelta(hours=1),
        status=Transaction.Status.COMPLETED,
        stop_reason="Local",
    )
    for minutes in range(0, 61, 10):
        moment = started + timedelta(minutes=minutes)
        for measurand, unit, value in (
            ("Energy.Active.Import.Register", "Wh", 1_000 + minutes * 20_000 / 60),
            ("Power.Active.Import", "W", 20_000.0),
            ("SoC", "Percent", 30 + minutes / 2),
        ):
            MeterSample.objects.create(
                transaction=session,
                station=online,
                connector_id=1,
                timestamp=moment,
                measurand=measurand,
                unit=unit,
                location="Outlet",
                value=value,
            )
    IdTokenEvent.objects.create(
        id_token=card,
        token=SESSION_TOKEN,
        kind=IdTokenEvent.Kind.AUTHORIZATION,
        status="Accepted",
        station=online,
        source=IdTokenEvent.Source.STATION,
        created_at=started - timedelta(seconds=20),
    )
    # Another station's authorisation of the same card, and this station's of another card: not the session's.
    IdTokenEvent.objects.create(
        token=SESSION_TOKEN,
        kind=IdTokenEvent.Kind.AUTHORIZATION,
        status="Accepted",
        station=faulted,
        source=IdTokenEvent.Source.STATION,
        created_at=started,
    )
    IdTokenEvent.objects.create(
        token="STRANGER",
        kind=IdTokenEvent.Kind.AUTHORIZATION,
        status="Invalid",
        note="unknown",
        station=online,
        source=IdTokenEvent.Source.STATION,
        created_at=started + timedelta(minutes=5),
    )
    charge = session_charge_create(transaction_id=session.pk)
    active_session = Transaction.objects.create(
        station=faulted,
        connector_id=2,
        id_tag="TAG-OTHER",
        meter_start=5_000,
        started_at=now - timedelta(minutes=20),
        status=Transaction.Status.ACTIVE,
    )
    return PortalNetwork(
        depot=depot,
        town=town,
        online=Station.objects.get(pk=online.pk),
        faulted=Station.objects.get(pk=faulted.pk),
        pending=pending,
        session=session,
        active_session=active_session,
        driver=driver,
        invoice=charge.invoice,
    )
