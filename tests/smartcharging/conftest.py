"""A managed site and charge points of both OCPP versions that hold (or refuse) the charging profiles they are sent."""

import contextlib
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201

from accounts.models import IdToken
from smartcharging import load
from stations.models import Site, Station
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection
from tests.waiting import until


class ProfileHolder:
    """What a station does with profiles: keeps each by (connector, purpose), or refuses them all (``refuse``) or
    its TxProfiles only (``refuse_tx``: many 1.6 charge points implement TxDefaultProfile only)."""

    refuse = False
    refuse_tx = False

    def hold(self, connector_id: int, profile: dict) -> str:
        self.received.append((connector_id, profile))
        purpose = profile.get("charging_profile_purpose")
        if self.refuse or (self.refuse_tx and purpose == "TxProfile"):
            return "Rejected"
        self.held[(connector_id, purpose)] = profile
        return "Accepted"

    def clear(self, profile_id: int | None) -> str:
        """ClearChargingProfile by id (the only way load management clears), answered as a station does."""
        self.cleared.append(profile_id)
        found = [
            key
            for key, profile in self.held.items()
            if profile.get("charging_profile_id", profile.get("id")) == profile_id
        ]
        for key in found:
            del self.held[key]
        return "Accepted" if found else "Unknown"

    def tx_limit(self, connector_id: int, purpose: str = "TxProfile") -> float | None:
        """The first period's limit of the TxProfile (or other ``purpose``) held on ``connector_id``."""
        profile = self.held.get((connector_id, purpose))
        if profile is None:
            return None
        schedule = profile["charging_schedule"]
        schedule = schedule[0] if isinstance(schedule, list) else schedule
        return float(schedule["charging_schedule_period"][0]["limit"])


class Station16(ProfileHolder, ChargePoint16):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.received, self.held, self.cleared = [], {}, []

    @on(Action16.set_charging_profile)
    def on_set_charging_profile(self, connector_id, cs_charging_profiles, **_):
        return result16.SetChargingProfile(status=self.hold(connector_id, cs_charging_profiles))

    @on(Action16.clear_charging_profile)
    def on_clear_charging_profile(self, id=None, **_):
        return result16.ClearChargingProfile(status=self.clear(id))


class Station201(ProfileHolder, ChargePoint201):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.received, self.held, self.cleared = [], {}, []

    @on(Action201.set_charging_profile)
    def on_set_charging_profile(self, evse_id, charging_profile, **_):
        return result201.SetChargingProfile(status=self.hold(evse_id, charging_profile))

    @on(Action201.clear_charging_profile)
    def on_clear_charging_profile(self, charging_profile_id=None, **_):
        return result201.ClearChargingProfile(status=self.clear(charging_profile_id))

    @on(Action201.get_base_report)
    def on_get_base_report(self, **_):
        return result201.GetBaseReport(status="Accepted")


@pytest.fixture
def load_worker(transactional_db):
    """A real Celery worker on the test Redis, running what the daphne child queues (the rebalances its session
    starts and stops ask for). Tasks left in the queue by earlier tests are dropped first: their ids mean other rows."""
    from cms.celery import app as celery_app
    from tests.conftest import ROOT, _database_url

    broker = redis.Redis.from_url(settings.REDIS_URL)
    broker.delete("celery")
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    (ROOT / "var").mkdir(exist_ok=True)
    log = open(ROOT / "var" / "test-load-worker.log", "w")
    env = {**os.environ, "DATABASE_URL": _database_url(), "DATABASE_CONN_MAX_AGE": "0"}
    command = ["celery", "-A", "cms.celery", "worker", "--pool", "solo", "-Q", "celery", "-n", "load-test@%h"]
    process = subprocess.Popen(
        [sys.executable, "-m", *command, "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield process
    process.terminate()
    process.wait(timeout=30)
    log.close()
    celery_app.conf.task_always_eager = before
    broker.delete("celery")
    broker.close()


@pytest.fixture
def site(db):
    return Site.objects.create(name="Depot")


@pytest.fixture
def tokens(db):
    for number in range(1, 13):
        IdToken.objects.create(token=f"TAG-{number}")


@contextlib.asynccontextmanager
async def connected(server, ocpp_id: str, version: str = "1.6"):
    """A booted station of ``version`` (its StationLoadState etc. are the CSMS's business)."""
    client_class, subprotocol = (Station16, "ocpp1.6") if version == "1.6" else (Station201, "ocpp2.0.1")
    async with ocpp_connection(
        server, ocpp_id, STATION_PASSWORD, subprotocols=(subprotocol,), client_class=client_class
    ) as cp:
        if version == "1.6":
            boot = call16.BootNotification(charge_point_vendor="ABB", charge_point_model="Terra AC")
        else:
            boot = call201.BootNotification(charging_station={"vendor_name": "ABB", "model": "Terra"}, reason="PowerUp")
        assert (await cp.call(boot)).status == "Accepted"
        await until(lambda: Station.objects.filter(ocpp_id=ocpp_id, is_online=True).aexists(), what="online")
        yield cp


async def start_session(cp, connector_id: int, tag: str) -> None:
    """A session on ``connector_id`` in the station's own version, stored before this returns."""
    now = datetime.now(UTC).isoformat()
    if isinstance(cp, Station16):
        answer = await cp.call(
            call16.StartTransaction(connector_id=connector_id, id_tag=tag, meter_start=0, timestamp=now)
        )
        assert answer.id_tag_info["status"] == "Accepted"
        return
    await cp.call(
        call201.TransactionEvent(
            event_type="Started",
            timestamp=now,
            trigger_reason="Authorized",
            seq_no=0,
            transaction_info={"transaction_id": f"TX-{cp.id}-{connector_id}", "charging_state": "Charging"},
            id_token={"id_token": tag, "type": "ISO14443"},
            evse={"id": connector_id, "connector_id": 1},
        )
    )


async def stop_session(cp, connector_id: int) -> None:
    from sessions.models import Transaction

    session = await Transaction.objects.aget(
        station__ocpp_id=cp.id, connector_id=connector_id, status=Transaction.Status.ACTIVE
    )
    now = datetime.now(UTC).isoformat()
    if isinstance(cp, Station16):
        await cp.call(call16.StopTransaction(transaction_id=session.pk, meter_stop=1000, timestamp=now))
        return
    await cp.call(
        call201.TransactionEvent(
            event_type="Ended",
            timestamp=now,
            trigger_reason="EVDeparted",
            seq_no=1,
            transaction_info={"transaction_id": session.ocpp_transaction_id, "stopped_reason": "EVDisconnected"},
        )
    )


rebalance = sync_to_async(load.site_rebalance)
watch = sync_to_async(load.sites_watch)
