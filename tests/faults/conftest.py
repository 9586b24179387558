"""Fixtures of the fault suite: server nodes of the test's own (killable, or behind a fault proxy), a
registered fleet with its drivers and a tariff, and a real Celery worker that prices what the fleet charged."""

import logging
import uuid
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import redis
from django.conf import settings

from tests.billing.test_worker import start_worker, stop
from tests.factories import STATION_PASSWORD
from tests.faults.fleet import tag_of
from tests.faults.proxy import FaultProxy

PRICE_PER_KWH = Decimal("0.40")


@pytest.fixture(autouse=True)
def _quiet_ocpp_client_log():
    """Each CALLERROR a station receives is a warning of the `ocpp` library; an outage makes thousands."""
    client_log = logging.getLogger("ocpp")
    before = client_log.level
    client_log.setLevel(logging.ERROR)
    yield
    client_log.setLevel(before)


@pytest.fixture
def postgres_proxy():
    """A proxy in front of PostgreSQL; list it before ``node_servers`` in a test, so the node stops first."""
    db = settings.DATABASES["default"]
    with FaultProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)) as proxy:
        yield proxy


@pytest.fixture
def redis_proxy():
    """A proxy in front of Redis; list it before ``node_servers`` in a test, so the node stops first."""
    target = urlsplit(settings.REDIS_URL)
    with FaultProxy(target.hostname or "127.0.0.1", target.port or 6379) as proxy:
        yield proxy


@pytest.fixture
def fleet_ids(request, transactional_db, django_user_model):
    """``fleet_ids(n)``: n registered stations, a driver with a tag for each of their two connectors, one tariff,
    one operator."""
    from accounts.models import IdToken
    from billing.models import Operator, Tariff
    from stations.services import station_create

    Operator.objects.create(
        name="Faults Energy",
        legal_name="Faults Energy GmbH",
        address="Testweg 1",
        vat_id="DE136695976",
        is_default=True,
    )
    Tariff.objects.create(
        name="Flat",
        currency="EUR",
        tax_rate=Decimal("0"),
        price_per_kwh=PRICE_PER_KWH,
        valid_from="2020-01-01T00:00:00Z",
    )

    def make(count: int, prefix: str = "FLT") -> list[str]:
        ids = [f"{prefix}-{n:02d}" for n in range(count)]
        for ocpp_id in ids:
            station_create(ocpp_id=ocpp_id, password=STATION_PASSWORD)
            for connector_id in (1, 2):
                driver = django_user_model.objects.create_user(
                    email=f"{tag_of(ocpp_id, connector_id).lower()}@drivers.example", password="x"
                )
                IdToken.objects.create(token=tag_of(ocpp_id, connector_id), owner=driver)
        return ids

    return make


@pytest.fixture
def pricing_worker(celery_eager):
    """A real Celery worker on the test broker; stale tasks of earlier runs are dropped first (their
    transaction ids mean other sessions in this database)."""
    from cms.celery import app as celery_app

    celery_app.conf.task_always_eager = False
    broker = redis.Redis.from_url(settings.REDIS_URL)
    broker.delete("celery")
    worker = start_worker("celery", f"test-faults-worker-{uuid.uuid4().hex[:8]}.log")
    yield worker
    stop(worker)
    broker.delete("celery")
    broker.close()
