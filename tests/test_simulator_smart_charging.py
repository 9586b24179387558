"""Simulated stations of both versions honouring charging profiles against a real daphne server: the car's draw
and reported current follow the limit, pause below the car's minimum, and the station answers the smart-charging
commands from the profiles it holds (or rejects them when told to)."""

import pytest
from asgiref.sync import sync_to_async

from sessions.models import MeterSample, TransactionEvent
from simulator import Simulation
from smartcharging.models import ChargingProfileReport
from smartcharging.requests import charging_profiles_request
from stations.models import ConnectorStatusEvent
from stations.protocol.commands import station_call
from tests.test_simulator import register
from tests.test_simulator_v201 import config_for
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)

VOLTS, PHASES = 230, 3


@pytest.fixture(autouse=True)
def _short_response_timeout(settings):
    settings.CMS_OCPP_RESPONSE_TIMEOUT = 5


def running(version, config):
    return Simulation(["SIM-001"], config, versions={"SIM-001": version}).running()


def schedule(limit, unit="A"):
    return {"chargingRateUnit": unit, "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}


async def latest_currents(station, connector_id=1) -> list[float]:
    """The per-phase currents of the connector's last sample the CSMS stored (one reading: a state-change sample
    and a periodic one can share a timestamp, told apart by their context)."""
    last = (
        await MeterSample.objects.filter(station=station, connector_id=connector_id, measurand="Current.Import")
        .order_by("-timestamp")
        .afirst()
    )
    if last is None:
        return []
    samples = MeterSample.objects.filter(
        station=station,
        connector_id=connector_id,
        measurand="Current.Import",
        timestamp=last.timestamp,
        context=last.context,
    )
    return [s.value async for s in samples]


async def test_a_201_station_follows_its_profiles_reports_them_and_pauses_below_the_car_minimum(daphne_server):
    station = await register()
    async with running("2.0.1", config_for(daphne_server, autostart=False, meter_interval=0.1)) as simulation:
        simulated = simulation.stations[0]
        simulated.start_session(1, "SIMTAG01")
        await until(lambda: simulated.stats.sessions_started == 1)
        transaction_id = simulated.connectors[1].transaction_id

        async def set_profile(evse_id, **profile):
            command = await station_call(
                station=station, action="SetChargingProfile", payload={"evseId": evse_id, "chargingProfile": profile}
            )
            return command.response["status"]

        default = {"stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute"}
        start = {"startSchedule": "2020-01-01T00:00:00Z"}
        assert await set_profile(0, id=1, **default, chargingSchedule=[{"id": 1, **start, **schedule(4)}]) == "Accepted"
        # 4 A is under the car's 6 A minimum: it pauses, and the station says why.
        await until(
            lambda: TransactionEvent.objects.filter(charging_state="SuspendedEVSE").aexists(), what="SuspendedEVSE"
        )
        await until(lambda: simulated.connectors[1].power_w == 0)

        tx = {"stackLevel": 1, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative"}
        wrong = {**tx, "transactionId": "not-this-one"}
        assert await set_profile(1, id=2, **wrong, chargingSchedule=[{"id": 1, **schedule(10)}]) == "Rejected"
        tx["transactionId"] = transaction_id
        assert await set_profile(1, id=2, **tx, chargingSchedule=[{"id": 1, **schedule(10)}]) == "Accepted"
        await until(lambda: simulated.connectors[1].charging_state == "Charging")
        await until(lambda: TransactionEvent.objects.filter(charging_state="Charging").aexists())
        await until(lambda: simulated.connectors[1].power_w > 0)
        currents = await until(lambda: latest_currents(station), what="a sample while charging")
        await until(
            lambda: _all_between(latest_currents(station), 6, 10), what="the reported current under the TxProfile"
        )
        assert len(currents) == PHASES

        composite = await station_call(
            station=station,
            action="GetCompositeSchedule",
            payload={"evseId": 1, "duration": 60, "chargingRateUnit": "A"},
        )
        assert composite.response["schedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 10.0}]

        report = await sync_to_async(charging_profiles_request)(station=station)
        complete = ChargingProfileReport.Status.COMPLETE
        await until(lambda: ChargingProfileReport.objects.filter(pk=report.pk, status=complete).aexists())
        reported = {(p.evse_id, p.profile_id, p.purpose) async for p in report.profiles.all()}
        assert reported == {(0, 1, "TxDefaultProfile"), (1, 2, "TxProfile")}

        cleared = await station_call(
            station=station,
            action="ClearChargingProfile",
            payload={"chargingProfileCriteria": {"chargingProfilePurpose": "TxProfile"}},
        )
        assert cleared.response["status"] == "Accepted"
        await until(lambda: simulated.connectors[1].charging_state == "SuspendedEVSE")
        again = await station_call(station=station, action="ClearChargingProfile", payload={"chargingProfileId": 2})
        assert again.response["status"] == "Unknown"

        simulated.reject_charging_profiles = True
        assert (
            await set_profile(0, id=3, **default, chargingSchedule=[{"id": 1, **start, **schedule(16)}]) == "Rejected"
        )
        assert simulated.connectors[1].charging_state == "SuspendedEVSE"


async def _all_between(currents, low, high) -> bool:
    values = await currents
    return bool(values) and all(low * 0.95 <= value <= high for value in values)


async def test_a_16_station_reports_suspended_evse_and_charges_again_when_the_limit_rises(daphne_server):
    station = await register()
    async with running("1.6", config_for(daphne_server, autostart=False, meter_interval=0.1)) as simulation:
        simulated = simulation.stations[0]
        simulated.start_session(1, "SIMTAG01")
        await until(lambda: simulated.stats.sessions_started == 1)
        default = {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": schedule(0),
        }
        answer = await station_call(
            station=station, action="SetChargingProfile", payload={"connectorId": 0, "csChargingProfiles": default}
        )
        assert answer.response == {"status": "Accepted"}
        await until(lambda: ConnectorStatusEvent.objects.filter(station=station, status="SuspendedEVSE").aexists())
        await until(lambda: _all_between(latest_currents(station), 0, 0), what="no current while suspended")

        higher = {**default, "chargingProfileId": 2, "stackLevel": 1, "chargingSchedule": schedule(7_000, "W")}
        answer = await station_call(
            station=station, action="SetChargingProfile", payload={"connectorId": 1, "csChargingProfiles": higher}
        )
        assert answer.response == {"status": "Accepted"}
        await until(lambda: simulated.connectors[1].charging_state == "Charging")
        limit_a = 7_000 / (VOLTS * PHASES)
        await until(lambda: _all_between(latest_currents(station), 6, limit_a), what="the current under 7 kW")
        statuses = [
            s
            async for s in ConnectorStatusEvent.objects.filter(station=station, connector_id=1)
            .order_by("timestamp")
            .values_list("status", flat=True)
        ]
        assert statuses[-2:] == ["SuspendedEVSE", "Charging"]

        simulated.reject_charging_profiles = True
        answer = await station_call(
            station=station, action="SetChargingProfile", payload={"connectorId": 0, "csChargingProfiles": default}
        )
        assert answer.response == {"status": "Rejected"}
        assert set(simulated.charging_profiles) == {1, 2}
