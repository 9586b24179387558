"""Billing fixtures: a site in Berlin, an operator, tariffs, and finished sessions built from raw meter data."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

ENERGY = "Energy.Active.Import.Register"
T0 = datetime(2025, 3, 12, 9, 0, tzinfo=UTC)  # a Wednesday


@pytest.fixture(autouse=True)
def _jobs_run_in_process(celery_eager):
    """Jobs queued on commit run in-process here; the worker tests switch to the real broker."""


@pytest.fixture
def site(db):
    from stations.models import Site

    return Site.objects.create(name="Depot", timezone="Europe/Berlin")


@pytest.fixture
def station(make_station, site):
    return make_station(ocpp_id="CP-B1", site=site)


@pytest.fixture
def operator(db):
    from billing.models import Operator

    return Operator.objects.create(
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


@pytest.fixture
def make_tariff(db):
    from billing.models import Tariff, TariffPeriod

    def make(periods=(), **fields):
        values = {
            "name": "Standard",
            "currency": "EUR",
            "tax_rate": Decimal("19"),
            "valid_from": datetime(2020, 1, 1, tzinfo=UTC),
            "price_per_kwh": Decimal("0.40"),
            **fields,
        }
        tariff = Tariff.objects.create(**values)
        for position, period in enumerate(periods):
            TariffPeriod.objects.create(tariff=tariff, position=position, **period)
        return tariff

    return make


@pytest.fixture
def make_session(db, station):
    """A session as the OCPP services leave it: the transaction, its energy register samples, status history."""
    from sessions.models import MeterSample, Transaction
    from stations.models import ConnectorStatusEvent

    def make(
        *,
        started_at=T0,
        minutes=60,
        energy_wh=10_000,
        meter_start=1_000_000,
        samples=None,
        statuses=(),
        user=None,
        stopped=True,
        connector_id=1,
        on=None,
    ):
        at = on or station
        stopped_at = started_at + timedelta(minutes=minutes)
        meter_stop = meter_start + energy_wh
        session = Transaction.objects.create(
            station=at,
            connector_id=connector_id,
            id_tag="TAG-1",
            user=user,
            meter_start=meter_start,
            meter_stop=meter_stop if stopped else None,
            energy_wh=energy_wh if stopped else None,
            started_at=started_at,
            stopped_at=stopped_at if stopped else None,
            status=Transaction.Status.COMPLETED if stopped else Transaction.Status.ACTIVE,
        )
        if samples is None:
            # One reading every 15 minutes, energy flowing evenly.
            steps = max(minutes // 15, 1)
            samples = [
                (started_at + timedelta(minutes=15 * step), meter_start + energy_wh * step // steps)
                for step in range(1, steps)
            ]
        MeterSample.objects.bulk_create(
            [
                MeterSample(
                    transaction=session,
                    station=at,
                    connector_id=connector_id,
                    timestamp=moment,
                    measurand=ENERGY,
                    unit="Wh",
                    location="Outlet",
                    context="Sample.Periodic",
                    value=value,
                )
                for moment, value in samples
            ]
        )
        ConnectorStatusEvent.objects.bulk_create(
            [
                ConnectorStatusEvent(station=at, connector_id=connector_id, status=status, timestamp=moment)
                for moment, status in statuses
            ]
        )
        return session

    return make


@pytest.fixture
def other_driver(db, django_user_model):
    return django_user_model.objects.create_user(email="other@example.com", password="other-pass-123")


@pytest.fixture
def finance_user(db, django_user_model):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(email="finance@example.com", password="finance-pass-123")
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get_or_create(name="finance")[0])
    return user


@pytest.fixture
def technician(db, django_user_model):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(email="tech@example.com", password="tech-pass-123", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name="technician")[0])
    return user


@pytest.fixture
def funded_driver(driver):
    from billing.services import wallet_post

    wallet_post(user_id=driver.pk, amount=Decimal("50.00"), currency="EUR", kind="top_up", reference="seed:driver")
    return driver


@pytest.fixture
def fake_stripe(settings, monkeypatch):
    """Our own HTTP server speaking Stripe's API shape; the real `stripe` library talks to it."""
    from tests.billing.fake_stripe import FakeStripe

    server = FakeStripe()
    server.start()
    settings.CMS_BILLING_STRIPE_API_BASE = server.url
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_voltgrid")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_test_secret")
    monkeypatch.setenv("STRIPE_PUBLISHABLE_KEY", "pk_test_voltgrid")
    yield server
    server.stop()
