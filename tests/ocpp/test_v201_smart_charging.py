"""OCPP 2.0.1 smart charging reports (block K): the `ocpp` library's 2.0.1 charge point, connected to the running
server, reports its charging profiles in parts for the CSMS's GetChargingProfiles, and its EV's charging
needs and schedule; all of it stored in the smartcharging app and read back through its selectors."""

import asyncio
import logging

import pytest
from asgiref.sync import sync_to_async
from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from smartcharging import selectors, services
from smartcharging.models import ChargingProfileReport, EVChargingNeeds, EVChargingSchedule, ReportedChargingProfile
from smartcharging.requests import charging_profiles_request
from stations.models import Station
from stations.protocol import outbound
from stations.protocol.commands import payload_errors
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)
Status = ChargingProfileReport.Status
NOW = "2026-03-01T10:00:00Z"


def profile(profile_id, purpose="TxDefaultProfile", stack_level=0, limit=16.0):
    return {
        "id": profile_id,
        "stack_level": stack_level,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": "Absolute",
        "charging_schedule": [
            {
                "id": profile_id,
                "charging_rate_unit": "A",
                "start_schedule": NOW,
                "charging_schedule_period": [{"start_period": 0, "limit": limit}],
            }
        ],
    }


class ProfileStation(ChargePoint):
    """Holds a station-wide maximum profile and a default on EVSE 1: reported in two parts (EVSE 0, then EVSE 1)."""

    holds_profiles = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.requests: list[dict] = []

    @on(Action.get_base_report)
    def on_get_base_report(self, **_):
        return call_result.GetBaseReport(status="Accepted")

    @on(Action.get_charging_profiles)
    def on_get_charging_profiles(self, request_id, charging_profile, evse_id=None, **_):
        self.requests.append({"request_id": request_id, "evse_id": evse_id, "criterion": charging_profile})
        return call_result.GetChargingProfiles(status="Accepted" if self.holds_profiles else "NoProfiles")

    @after(Action.get_charging_profiles)
    async def report(self, request_id, **_):
        if not self.holds_profiles:
            return
        parts = [
            (0, [profile(1, "ChargingStationMaxProfile", limit=63.0)]),
            (1, [profile(2), profile(3, stack_level=2)]),
        ]
        for number, (evse_id, profiles) in enumerate(parts):
            await self.call(
                call.ReportChargingProfiles(
                    request_id=request_id,
                    charging_limit_source="CSO",
                    evse_id=evse_id,
                    charging_profile=profiles,
                    tbc=number < len(parts) - 1,
                )
            )


@pytest.fixture(autouse=True)
def _short_response_timeout(settings):
    settings.CMS_OCPP_RESPONSE_TIMEOUT = 5


@pytest.fixture
def station(make_station):
    return make_station("SC-1")


def connection(server, client_class=ProfileStation):
    return ocpp_connection(server, "SC-1", STATION_PASSWORD, subprotocols=("ocpp2.0.1",), client_class=client_class)


async def booted(cp):
    boot = call.BootNotification(charging_station={"vendor_name": "Alpitronic", "model": "HYC300"}, reason="PowerUp")
    assert (await cp.call(boot)).status == "Accepted"
    await until(lambda: Station.objects.filter(ocpp_id="SC-1", is_online=True).aexists(), what="online")


request_profiles = sync_to_async(charging_profiles_request)


def test_get_charging_profiles_is_a_2_0_1_call_the_schema_accepts_and_1_6_lacks():
    request = outbound.charging_profiles_report(
        "2.0.1", request_id=7, evse_id=0, purpose="TxDefaultProfile", stack_level=0
    )
    assert request == (
        "GetChargingProfiles",
        {
            "requestId": 7,
            "evseId": 0,
            "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 0},
        },
    )
    assert payload_errors(action=request.action, payload=request.payload, ocpp_version="2.0.1") == []
    with pytest.raises(outbound.Unsupported, match="GetCompositeSchedule"):
        outbound.charging_profiles_report("1.6", request_id=7)


async def test_a_report_in_two_parts_is_stored_per_evse_and_read_back(daphne_server, station):
    async with connection(daphne_server) as cp:
        await booted(cp)
        report = await request_profiles(station=station, purpose="TxDefaultProfile")
        assert cp.requests == [
            {
                "request_id": report.request_id,
                "evse_id": None,
                "criterion": {"charging_profile_purpose": "TxDefaultProfile"},
            }
        ]
        await until(
            lambda: ChargingProfileReport.objects.filter(pk=report.pk, status=Status.COMPLETE).aexists(),
            what="report complete",
        )
    report = await ChargingProfileReport.objects.aget(pk=report.pk)
    assert (report.parts, report.requested, report.completed_at is not None) == (2, True, True)

    held = await sync_to_async(lambda: list(selectors.station_charging_profiles(station=station)))()
    assert [(p.evse_id, p.purpose, p.profile_id, p.stack_level) for p in held] == [
        (0, "ChargingStationMaxProfile", 1, 0),
        (1, "TxDefaultProfile", 3, 2),
        (1, "TxDefaultProfile", 2, 0),
    ]
    station_max = held[0]
    assert station_max.charging_limit_source == "CSO"
    assert station_max.profile["chargingSchedule"][0]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 63.0}]
    on_evse_1 = await sync_to_async(lambda: list(selectors.station_charging_profiles(station=station, evse_id=1)))()
    assert [p.profile_id for p in on_evse_1] == [3, 2]


async def test_a_station_without_profiles_completes_an_empty_report(daphne_server, station):
    empty = type("Empty", (ProfileStation,), {"holds_profiles": False})
    async with connection(daphne_server, empty) as cp:
        await booted(cp)
        report = await request_profiles(station=station, evse_id=1)
    assert (report.status, report.parts, report.evse_id) == (Status.NO_PROFILES, 0, 1)
    assert await sync_to_async(selectors.latest_charging_profile_report)(station=station) == report
    assert await sync_to_async(lambda: selectors.station_charging_profiles(station=station).count())() == 0


async def test_a_request_to_an_offline_station_fails_with_the_reason(station):
    await Station.objects.filter(pk=station.pk).aupdate(ocpp_version="2.0.1")  # it spoke 2.0.1, now gone
    report = await request_profiles(station=station)
    assert report.status == Status.FAILED
    assert "not connected" in report.detail
    assert await sync_to_async(selectors.latest_charging_profile_report)(station=station) is None


async def test_a_part_for_an_unknown_request_is_answered_and_kept_apart(daphne_server, station):
    async with connection(daphne_server) as cp:
        await booted(cp)
        answer = await cp.call(
            call.ReportChargingProfiles(
                request_id=999, charging_limit_source="EMS", evse_id=1, charging_profile=[profile(5)]
            )
        )
        assert answer == call_result.ReportChargingProfiles()
    kept = await ChargingProfileReport.objects.aget(station=station, request_id=999)
    assert (kept.requested, kept.status, kept.command_id) == (False, Status.COMPLETE, None)
    assert await ReportedChargingProfile.objects.filter(report=kept, profile_id=5).aexists()
    # Not taken for what the station holds: nobody asked, it may be from long ago.
    assert await sync_to_async(selectors.latest_charging_profile_report)(station=station) is None


def test_a_part_for_an_unknown_request_is_logged(station, caplog):
    with caplog.at_level(logging.WARNING, logger="smartcharging.services"):
        services.charging_profiles_report_record(
            station=station, request_id=4242, evse_id=0, charging_limit_source="SO", profiles=[profile(1)], tbc=True
        )
    [record] = caplog.records
    assert (record.getMessage(), record.request_id) == (
        "charging profiles reported for a request the CSMS did not make",
        4242,
    )
    assert ChargingProfileReport.objects.get(request_id=4242).status == Status.RECEIVING


async def test_ev_charging_needs_and_schedule_are_stored_and_answered(daphne_server, station):
    needs = {
        "requested_energy_transfer": "DC",
        "departure_time": "2026-03-01T18:00:00Z",
        "dc_charging_parameters": {"ev_max_current": 200, "ev_max_voltage": 800, "energy_amount": 40000},
    }
    schedule = {"id": 1, "charging_rate_unit": "W", "charging_schedule_period": [{"start_period": 0, "limit": 50000}]}
    async with connection(daphne_server) as cp:
        await booted(cp)
        needs_answer = await cp.call(call.NotifyEVChargingNeeds(charging_needs=needs, evse_id=2, max_schedule_tuples=3))
        schedule_answer = await cp.call(
            call.NotifyEVChargingSchedule(time_base=NOW, charging_schedule=schedule, evse_id=2)
        )
    assert (needs_answer.status, schedule_answer.status) == ("Processing", "Accepted")

    stored = await sync_to_async(selectors.ev_charging_needs_latest)(station=station, evse_id=2)
    assert (stored.requested_energy_transfer, stored.max_schedule_tuples) == ("DC", 3)
    assert stored.departure_time.isoformat() == "2026-03-01T18:00:00+00:00"
    assert stored.charging_needs["dcChargingParameters"] == {
        "evMaxCurrent": 200,
        "evMaxVoltage": 800,
        "energyAmount": 40000,
    }
    chosen = await sync_to_async(selectors.ev_charging_schedule_latest)(station=station, evse_id=2)
    assert chosen.time_base.isoformat() == "2026-03-01T10:00:00+00:00"
    assert chosen.charging_schedule["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 50000}]
    assert await sync_to_async(selectors.ev_charging_needs_latest)(station=station, evse_id=1) is None


@pytest.mark.parametrize(
    ("message", "path"),
    [
        (call.NotifyEVChargingNeeds(charging_needs={"requested_energy_transfer": "DC"}, evse_id=99), "/evseId"),
        (
            call.NotifyEVChargingNeeds(
                charging_needs={"requested_energy_transfer": "DC", "departure_time": "tonight"}, evse_id=1
            ),
            "/chargingNeeds/departureTime",
        ),
        (
            call.ReportChargingProfiles(
                request_id=1, charging_limit_source="SO", evse_id=99, charging_profile=[profile(1)]
            ),
            "/evseId",
        ),
        (
            call.NotifyEVChargingSchedule(
                time_base="now",
                charging_schedule={
                    "id": 1,
                    "charging_rate_unit": "W",
                    "charging_schedule_period": [{"start_period": 0, "limit": 1}],
                },
                evse_id=1,
            ),
            "/timeBase",
        ),
    ],
    ids=["needs-unknown-evse", "needs-bad-departure", "report-unknown-evse", "schedule-bad-time-base"],
)
async def test_bad_values_get_a_property_constraint_violation_and_store_nothing(daphne_server, station, message, path):
    async with connection(daphne_server) as cp:
        await booted(cp)
        with pytest.raises(OCPPError) as refused:
            await asyncio.wait_for(cp.call(message, suppress=False), 5)
    assert type(refused.value).__name__ == "PropertyConstraintViolationError"
    assert path in str(refused.value)
    assert not await EVChargingNeeds.objects.aexists()
    assert not await EVChargingSchedule.objects.aexists()
    assert not await ReportedChargingProfile.objects.aexists()
