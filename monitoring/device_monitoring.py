"""Variable monitors of OCPP 2.0.1 stations (functional block N): set, cleared and reported, kept in step with
what each station accepted or last reported.

A report (NotifyMonitoringReport, possibly in many parts) adds and updates monitors; once the last part of a
report that asked for all of them has arrived, the monitors it did not list are gone from the station.
"""

from collections.abc import Iterable, Sequence
from decimal import Decimal

from django.db import transaction

from monitoring.commanding import Sent, command_send
from monitoring.models import VariableMonitor
from stations.models import Station, StationCommand
from stations.protocol import outbound
from stations.protocol.outbound import Outcome

# ClearVariableMonitoring: the monitor is gone either way.
CLEARED = frozenset({"Accepted", "NotFound"})


def _location(component: dict, variable: dict) -> dict:
    evse = component.get("evse") or {}
    return {
        "component_name": component["name"],
        "component_instance": component.get("instance") or "",
        "evse_id": evse.get("id"),
        "connector_id": evse.get("connector_id", evse.get("connectorId")),
        "variable_name": variable["name"],
        "variable_instance": variable.get("instance") or "",
    }


def monitor_set(*, station: Station, requested_by=None, **monitor) -> Sent:
    """Send one monitor (the arguments of ``outbound.monitor_set``); stored once the station accepts it."""
    call = outbound.monitor_set(station.ocpp_version, **monitor)
    sent = command_send(station=station, call=call, requested_by=requested_by)
    if sent.answer is None:
        return sent
    (requested,) = call.payload["setMonitoringData"]
    for result in sent.answer.data["results"]:
        if result.get("status") == "Accepted" and result.get("id") is not None:
            VariableMonitor.objects.update_or_create(
                station=station,
                monitor_id=result["id"],
                defaults={
                    **_location(result["component"], result["variable"]),
                    "type": result["type"],
                    "severity": result["severity"],
                    "value": Decimal(str(requested["value"])),
                    "transaction": requested.get("transaction", False),
                },
            )
    return sent


def monitors_clear(*, station: Station, monitor_ids: Iterable[int], requested_by=None) -> Sent:
    """Remove monitors; each one the station cleared (or does not know) is removed here too."""
    call = outbound.monitors_clear(station.ocpp_version, monitor_ids=monitor_ids)
    sent = command_send(station=station, call=call, requested_by=requested_by)
    if sent.answer is not None:
        gone = [result["id"] for result in sent.answer.data["results"] if result.get("status") in CLEARED]
        VariableMonitor.objects.filter(station=station, monitor_id__in=gone).delete()
    return sent


def monitoring_report_request(*, station: Station, criteria: Iterable[str] = (), requested_by=None) -> Sent:
    """Ask for the station's monitors; they arrive as NotifyMonitoringReport parts (``monitoring_report_record``)."""
    call = outbound.monitoring_report(station.ocpp_version, criteria=criteria)
    sent = command_send(station=station, call=call, requested_by=requested_by)
    if sent.answer is not None and sent.answer.outcome == Outcome.NOTHING_TO_DO and _asks_for_all(call.payload):
        VariableMonitor.objects.filter(station=station).delete()
    return sent


def monitoring_base_set(*, station: Station, base: str, requested_by=None) -> Sent:
    """Switch the station's monitoring base; once accepted, its monitors are asked for again (the base decides
    which of them remain)."""
    call = outbound.monitoring_base_set(station.ocpp_version, base=base)
    sent = command_send(station=station, call=call, requested_by=requested_by)
    if sent.accepted:
        monitoring_report_request(station=station, requested_by=requested_by)
    return sent


def monitoring_level_set(*, station: Station, severity: int, requested_by=None) -> Sent:
    call = outbound.monitoring_level_set(station.ocpp_version, severity=severity)
    return command_send(station=station, call=call, requested_by=requested_by)


def _asks_for_all(payload: dict) -> bool:
    return not payload.get("monitoringCriteria") and not payload.get("componentVariable")


def _report_asks_for_all(*, station: Station, request_id: int) -> bool:
    """Whether the report ``request_id`` answers a request of ours for all monitors (not one of a subset)."""
    request = (
        StationCommand.objects.filter(station=station, action="GetMonitoringReport", payload__requestId=request_id)
        .values_list("payload", flat=True)
        .first()
    )
    return request is not None and _asks_for_all(request)


@transaction.atomic
def monitoring_report_record(*, station: Station, request_id: int, tbc: bool, monitors: Sequence[dict]) -> int:
    """One NotifyMonitoringReport part (snake_case, as the handler gets it): its monitors stored; the last part of
    a report of all monitors removes those it did not list. Returns how many monitors the part listed."""
    listed = 0
    for entry in monitors:
        location = _location(entry["component"], entry["variable"])
        for monitor in entry["variable_monitoring"]:
            VariableMonitor.objects.update_or_create(
                station=station,
                monitor_id=monitor["id"],
                defaults={
                    **location,
                    "type": monitor["type"],
                    "severity": monitor["severity"],
                    "value": Decimal(str(monitor["value"])),
                    "transaction": monitor["transaction"],
                    "report_request_id": request_id,
                },
            )
            listed += 1
    if not tbc and _report_asks_for_all(station=station, request_id=request_id):
        VariableMonitor.objects.filter(station=station).exclude(report_request_id=request_id).delete()
    return listed
