"""Fixtures of the API tests: REST clients per role, and a small network with one of everything the API lists."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.roles import Role


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def make_staff(db, django_user_model):
    def make(role: Role, email: str | None = None):
        user = django_user_model.objects.create_user(
            email=email or f"{role.value}@example.com", password=f"{role.value}-pass-123", is_staff=True
        )
        user.groups.add(Group.objects.get_or_create(name=role.value)[0])
        return user

    return make


@pytest.fixture
def admin_api(operator_admin) -> APIClient:
    return token_client(operator_admin)


@pytest.fixture
def driver_api(driver) -> APIClient:
    return token_client(driver)


@pytest.fixture
def technician_api(make_staff) -> APIClient:
    return token_client(make_staff(Role.TECHNICIAN, email="tech@example.com"))


@dataclass
class Network:
    """What the fixture made, for tests to name in URLs."""

    station: object  # CP-1: at a site, booted over OCPP 1.6, with connectors
    new_station: object  # CP-NEW: registered, never connected (no site, no OCPP version yet)
    command: object
    id_token: object
    session: object  # the driver's, stopped and priced
    active_session: object  # the driver's, still charging
    tariff: object  # charges refer to it
    spare_tariff: object  # nothing refers to it
    invoice: object
    payment: object
    job: object
    firmware: object
    alert: object


@pytest.fixture
def network(db, operator_admin, driver, make_station, settings, tmp_path) -> Network:
    """One of each thing the API lists, with the empty and null values real records have (a station that never
    connected, a session still charging, a command never answered), so responses are checked against the schema
    with them."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from accounts import services as accounts_services
    from accounts.models import IdTokenEvent
    from billing.models import Operator, Payment, Tariff
    from billing.services import session_charge_create
    from monitoring import alerts, maintenance
    from sessions.models import Transaction
    from stations.models import Connector, Site, Station, StationCommand

    settings.MEDIA_ROOT = tmp_path
    site = Site.objects.create(name="Depot", timezone="Europe/Berlin")
    station = make_station(ocpp_id="CP-1", site=site)
    Station.objects.filter(pk=station.pk).update(
        ocpp_version=Station.OcppVersion.V16, vendor="Voltgrid", model="VG-22", last_boot_at=datetime.now(UTC)
    )
    station.refresh_from_db()
    Connector.objects.create(station=station, connector_id=1, status="Available", power_w=0)
    Connector.objects.create(station=station, connector_id=2, status="Charging", power_w=11_000, soc_percent=40.5)
    new_station = make_station(ocpp_id="CP-NEW")
    command = StationCommand.objects.create(
        station=station,
        action="Reset",
        payload={"type": "Soft"},
        status=StationCommand.Status.TIMEOUT,
        requested_by=operator_admin,
    )
    StationCommand.objects.create(
        station=station,
        action="Reset",
        payload={"type": "Soft"},
        status=StationCommand.Status.ANSWERED,
        response={"status": "Accepted"},
        answered_at=datetime.now(UTC),
    )
    group, _ = accounts_services.id_token_upsert(
        token="FLEET", data={}, actor=operator_admin, source=IdTokenEvent.Source.API
    )
    id_token, _ = accounts_services.id_token_upsert(
        token="TAG-1",
        data={"owner": driver, "parent": group, "label": "Blue card"},
        actor=operator_admin,
        source=IdTokenEvent.Source.API,
    )

    Operator.objects.create(
        name="Voltgrid Energy",
        legal_name="Voltgrid Energy GmbH",
        address="Hauptstr. 1\n10115 Berlin",
        vat_id="DE123456789",
        email="billing@voltgrid.example",
        timezone="Europe/Berlin",
        invoice_prefix="VG-",
        credit_note_prefix="VG-CN-",
        is_default=True,
    )
    tariff = Tariff.objects.create(
        name="Standard",
        currency="EUR",
        tax_rate=Decimal("19"),
        valid_from=datetime(2020, 1, 1, tzinfo=UTC),
        price_per_kwh=Decimal("0.40"),
    )
    spare_tariff = Tariff.objects.create(
        name="Spare",
        currency="EUR",
        tax_rate=Decimal("19"),
        valid_from=datetime(2020, 1, 1, tzinfo=UTC),
        price_per_kwh=Decimal("0.50"),
        station=new_station,
    )
    started = datetime.now(UTC) - timedelta(hours=3)
    session = Transaction.objects.create(
        station=station,
        connector_id=1,
        id_tag="TAG-1",
        id_token=id_token,
        user=driver,
        meter_start=1_000,
        meter_stop=11_000,
        energy_wh=10_000,
        started_at=started,
        stopped_at=started + timedelta(hours=1),
        status=Transaction.Status.COMPLETED,
        stop_reason="Local",
    )
    charge = session_charge_create(transaction_id=session.pk)
    active_session = Transaction.objects.create(
        station=station,
        connector_id=2,
        id_tag="TAG-1",
        id_token=id_token,
        user=driver,
        meter_start=20_000,
        started_at=datetime.now(UTC) - timedelta(minutes=20),
        status=Transaction.Status.ACTIVE,
    )
    invoice = charge.invoice
    payment = Payment.objects.filter(invoice=invoice).first()
    if payment is not None:
        Payment.objects.filter(pk=payment.pk).update(
            status=Payment.Status.FAILED, attempts=1, last_error_code="card_declined"
        )
        payment.refresh_from_db()

    firmware = maintenance.firmware_upload(
        file=SimpleUploadedFile("vg-22-2.1.bin", b"firmware"),
        name="VG-22 firmware",
        version="2.1",
        uploaded_by=operator_admin,
    )
    job = maintenance.maintenance_job_create(
        kind="reset", stations=[station, new_station], params={"type": "Soft"}, created_by=operator_admin
    )
    alert = alerts.alert_security_event(station=station, event_type="InvalidFirmwareSignature", tech_info="x")
    return Network(
        station=station,
        new_station=new_station,
        command=command,
        id_token=id_token,
        session=session,
        active_session=active_session,
        tariff=tariff,
        spare_tariff=spare_tariff,
        invoice=invoice,
        payment=payment,
        job=job,
        firmware=firmware,
        alert=alert,
    )
