"""OCPP 2.0.1 variable monitors (functional block N) end to end: an operator sets, clears and reports a station's
monitors from the portal, the station (the `ocpp` library's 2.0.1 client) answers over a real socket, and what
it accepted or reported is what is stored; its NotifyEvents raise and clear alerts."""

import itertools

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from monitoring.models import Alert, VariableMonitor
from stations.protocol import outbound
from tests.monitoring.support import client_for
from tests.monitoring.v201_support import NOW, booted, post
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)

TEMPERATURE = {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Temperature"}}
POWER = {"component": {"name": "EVSE", "evse": {"id": 2}}, "variable": {"name": "Power"}}
# The station's own monitors, reported in three parts: two on the temperature, one on the power.
REPORTED = [
    [
        {
            **TEMPERATURE,
            "variable_monitoring": [
                {"id": 101, "transaction": False, "value": 70, "type": "UpperThreshold", "severity": 2}
            ],
        }
    ],
    [
        {
            **TEMPERATURE,
            "variable_monitoring": [{"id": 102, "transaction": True, "value": 5.5, "type": "Delta", "severity": 8}],
        }
    ],
    [
        {
            **POWER,
            "variable_monitoring": [
                {"id": 103, "transaction": False, "value": 22000, "type": "UpperThreshold", "severity": 4}
            ],
        }
    ],
]


class MonitoredStation(ChargePoint):
    """Accepts monitors on known variables (ids from 1), reports REPORTED in parts, refuses a level above 8 and
    does not support HardWiredOnly."""

    known_variables = {"Temperature", "Power"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ids = itertools.count(1)
        self.monitors = {101, 102, 103}

    @on(Action.set_variable_monitoring)
    def on_set(self, set_monitoring_data, **_):
        results = []
        for data in set_monitoring_data:
            known = data["variable"]["name"] in self.known_variables
            result = {key: data[key] for key in ("type", "severity", "component", "variable")}
            if known:
                monitor_id = data.get("id") or next(self.ids)
                self.monitors.add(monitor_id)
                result |= {"id": monitor_id, "status": "Accepted"}
            else:
                result["status"] = "UnknownVariable"
            results.append(result)
        return call_result.SetVariableMonitoring(set_monitoring_result=results)

    @on(Action.clear_variable_monitoring)
    def on_clear(self, id, **_):
        results = []
        for monitor_id in id:
            results.append({"id": monitor_id, "status": "Accepted" if monitor_id in self.monitors else "NotFound"})
            self.monitors.discard(monitor_id)
        return call_result.ClearVariableMonitoring(clear_monitoring_result=results)

    @on(Action.get_monitoring_report)
    def on_report(self, request_id, **_):
        return call_result.GetMonitoringReport(status="Accepted")

    @after(Action.get_monitoring_report)
    async def send_report(self, request_id, **_):
        for seq_no, part in enumerate(REPORTED):
            await self.call(
                call.NotifyMonitoringReport(
                    request_id=request_id, seq_no=seq_no, generated_at=NOW, monitor=part, tbc=seq_no < len(REPORTED) - 1
                )
            )

    @on(Action.set_monitoring_base)
    def on_base(self, monitoring_base, **_):
        return call_result.SetMonitoringBase(
            status="NotSupported" if monitoring_base == "HardWiredOnly" else "Accepted"
        )

    @on(Action.set_monitoring_level)
    def on_level(self, severity, **_):
        return call_result.SetMonitoringLevel(status="Rejected" if severity > 8 else "Accepted")


def command_url(action: str, ocpp_id="CS-201") -> str:
    return reverse("stations:station-monitors-command", args=[ocpp_id, action])


@pytest.fixture
def station(make_station):
    return make_station("CS-201")


@pytest.fixture
def portal(technician):
    return client_for(technician)


async def monitors() -> dict[int, tuple]:
    rows = VariableMonitor.objects.order_by("monitor_id").values_list(
        "monitor_id", "component_name", "evse_id", "variable_name", "type", "value", "severity", "transaction"
    )
    return {row[0]: row[1:] async for row in rows}


async def test_a_monitor_set_from_the_portal_is_stored_as_the_station_accepted_it_and_cleared(
    daphne_server, station, portal
):
    form = {
        "component": "EVSE",
        "evse_id": 1,
        "variable": "Temperature",
        "type": "UpperThreshold",
        "value": "65.5",
        "severity": 3,
    }
    async with booted(daphne_server, MonitoredStation):
        status, shown = await post(portal, command_url("set"), form)
        assert (status, shown) == (200, [("success", "SetVariableMonitoring: Accepted")])
        assert await monitors() == {1: ("EVSE", 1, "Temperature", "UpperThreshold", 65.5, 3, False)}

        _, shown = await post(portal, command_url("set"), form | {"variable": "Humidity"})
        assert shown == [("warning", "SetVariableMonitoring: UnknownVariable")]
        assert list(await monitors()) == [1]

        _, shown = await post(portal, command_url("clear"), {"monitor_id": 1})
        assert shown == [("success", "ClearVariableMonitoring: Accepted")]
        assert await monitors() == {}


async def test_a_report_in_parts_is_stored_whole_and_replaces_the_monitors_it_no_longer_lists(
    daphne_server, station, portal
):
    await VariableMonitor.objects.acreate(
        station=station, monitor_id=7, component_name="EVSE", variable_name="Gone", type="Delta", value=1, severity=5
    )
    async with booted(daphne_server, MonitoredStation):
        _, shown = await post(portal, command_url("report"))
        assert shown == [("success", "GetMonitoringReport: Accepted")]
        await until(all_reported, what="all three parts stored, the unlisted monitor gone")
    stored = await monitors()
    assert stored[101] == ("EVSE", 1, "Temperature", "UpperThreshold", 70, 2, False)
    assert stored[102] == ("EVSE", 1, "Temperature", "Delta", 5.5, 8, True)
    assert stored[103] == ("EVSE", 2, "Power", "UpperThreshold", 22000, 4, False)
    page = await sync_to_async(portal.get)(reverse("stations:station-monitors", args=["CS-201"]))
    assert '<td class="num">22000</td>' in page.content.decode()


async def test_refused_base_and_level_are_shown_as_the_station_said(daphne_server, station, portal):
    async with booted(daphne_server, MonitoredStation):
        assert (await post(portal, command_url("level"), {"severity": 9}))[1] == [
            ("warning", "SetMonitoringLevel: Rejected")
        ]
        assert (await post(portal, command_url("level"), {"severity": 4}))[1] == [
            ("success", "SetMonitoringLevel: Accepted")
        ]
        _, shown = await post(portal, command_url("base"), {"base": "HardWiredOnly"})
        assert shown == [("warning", "SetMonitoringBase: NotSupported")]
        _, shown = await post(portal, command_url("base"), {"base": "All"})
        assert shown == [("success", "SetMonitoringBase: Accepted")]
        # Once a base is accepted, the monitors it leaves active are read again.
        await until(all_reported, what="the report after it")


def event(event_id, trigger, value, *, monitor_id=None, cleared=None, variable="Temperature", evse=1):
    return {
        "event_id": event_id,
        "timestamp": NOW,
        "trigger": trigger,
        "actual_value": value,
        "event_notification_type": "CustomMonitor" if monitor_id else "HardWiredNotification",
        "component": {"name": "EVSE", "evse": {"id": evse}},
        "variable": {"name": variable},
        **({"variable_monitoring_id": monitor_id} if monitor_id else {}),
        **({"cleared": cleared} if cleared is not None else {}),
    }


async def all_reported() -> bool:
    return list(await monitors()) == [101, 102, 103]


async def open_alerts() -> dict[str, tuple]:
    rows = Alert.objects.filter(kind=Alert.Kind.DEVICE_EVENT, closed_at__isnull=True).values_list(
        "subject", "severity", "summary"
    )
    return {row[0]: row[1:] async for row in rows}


async def test_notify_event_of_a_severe_monitor_or_a_problem_raises_an_alert_and_clearing_closes_it(
    daphne_server, station, portal
):
    async with booted(daphne_server, MonitoredStation) as cp:
        await post(portal, command_url("report"))
        await until(all_reported, what="the station's monitors known")

        # Severity 8 (informational) is below the alert threshold; severity 2 (system failure) is above it.
        await cp.call(
            call.NotifyEvent(generated_at=NOW, seq_no=0, event_data=[event(1, "Delta", "21", monitor_id=102)])
        )
        assert await open_alerts() == {}
        await cp.call(
            call.NotifyEvent(
                generated_at=NOW, seq_no=1, event_data=[event(2, "Alerting", "74", monitor_id=101, cleared=False)]
            )
        )
        assert await open_alerts() == {"EVSE@1:Temperature": ("critical", "EVSE@1:Temperature is 74")}
        # Periodic readings never alert, whatever the monitor.
        await cp.call(
            call.NotifyEvent(generated_at=NOW, seq_no=2, event_data=[event(3, "Periodic", "75", monitor_id=101)])
        )
        await cp.call(
            call.NotifyEvent(
                generated_at=NOW, seq_no=3, event_data=[event(4, "Delta", "true", variable="Problem", evse=2)]
            )
        )
        assert set(await open_alerts()) == {"EVSE@1:Temperature", "EVSE@2:Problem"}

        await cp.call(
            call.NotifyEvent(
                generated_at=NOW, seq_no=4, event_data=[event(5, "Alerting", "60", monitor_id=101, cleared=True)]
            )
        )
        await cp.call(
            call.NotifyEvent(
                generated_at=NOW, seq_no=5, event_data=[event(6, "Delta", "false", variable="Problem", evse=2)]
            )
        )
    assert await open_alerts() == {}
    closed = await Alert.objects.aget(subject="EVSE@1:Temperature")
    assert (closed.close_reason, closed.details["monitor_severity"]) == ("The station reported it cleared.", 2)


async def test_a_2_0_1_security_event_is_an_alert_an_operator_resolves_from_the_portal(daphne_server, station, portal):
    async with booted(daphne_server, MonitoredStation) as cp:
        await cp.call(call.SecurityEventNotification(type="InvalidCsmsCertificate", timestamp=NOW, tech_info="cn"))
    alert = await Alert.objects.aget(station=station, kind=Alert.Kind.SECURITY_EVENT, closed_at__isnull=True)
    assert (alert.subject, alert.severity) == ("InvalidCsmsCertificate", "warning")
    page = await sync_to_async(portal.get)(reverse("stations:alerts"))
    assert "Security event InvalidCsmsCertificate: cn" in page.content.decode()
    await sync_to_async(portal.post)(
        reverse("stations:alert-resolve", args=[alert.pk]), {"note": "certificate renewed"}
    )
    await alert.arefresh_from_db()
    assert (alert.is_open, alert.close_reason) == (False, "certificate renewed")


async def test_a_1_6_station_is_told_monitors_are_not_in_its_version(make_station, portal):
    await sync_to_async(make_station)("CS-16", ocpp_version="1.6")
    with pytest.raises(outbound.Unsupported, match=r"not in OCPP 1\.6"):
        outbound.monitor_set("1.6", component="EVSE", variable="Power", type="Delta", value=1, severity=5)
    for action, data in [
        ("report", {}),
        ("level", {"severity": 3}),
        ("base", {"base": "All"}),
        ("clear", {"monitor_id": 1}),
    ]:
        _, shown = await post(portal, command_url(action, "CS-16"), data)
        assert shown == [
            ("error", "Nothing was sent. Variable monitors are not in OCPP 1.6: the station must speak OCPP 2.0.1.")
        ]


def test_monitor_pages_need_a_role_that_may_command_to_change_anything(station, analyst, technician):
    page = reverse("stations:station-monitors", args=["CS-201"])
    viewer = client_for(analyst)
    assert viewer.get(page).status_code == 200
    assert viewer.post(command_url("report")).status_code == 403
    assert client_for(technician).post(command_url("nonsense")).status_code == 404


def test_the_station_page_links_the_2_0_1_pages_only_for_a_2_0_1_station(make_station, technician):
    make_station("CS-201", ocpp_version="2.0.1")
    make_station("CS-16", ocpp_version="1.6")
    portal = client_for(technician)
    page = portal.get(reverse("stations:station", args=["CS-201"])).content.decode()
    for name in ("station-monitors", "station-display-messages", "station-customer-information"):
        link = reverse(f"stations:{name}", args=["CS-201"])
        assert f'href="{link}"' in page
        assert portal.get(link).status_code == 200
    assert "Variable monitors" not in portal.get(reverse("stations:station", args=["CS-16"])).content.decode()
