"""The OCPP 2.0.1 station: the simulator's stations as a 2.0.1 charging station on the `ocpp` library's client side.

Beside ``ocpp16`` and built the same way on ``simulator.station``: the same connection, drivers, cars and meters,
told in 2.0.1's words. Each connector is an EVSE with one connector. It boots (waiting out Pending or Rejected),
reports each EVSE's status, heartbeats, and keeps a device model that GetBaseReport and GetReport read (sent as
NotifyReport parts of DeviceDataCtrlr.ItemsPerMessage items) and GetVariables / SetVariables read and write; a
new SecurityCtrlr.BasicAuthPassword is used from the next connection on. Its drivers authorise and charge in
one transaction each (TransactionEvent Started / Updated / Ended, numbered by seqNo, with meter values); a
refused idTokenInfo ends the transaction (TxCtrlr.StopTxOnInvalidId).

TransactionEvents go through one queue, in order: an event that happens while the station is offline is
sent with ``offline`` once it is back, and one whose answer was lost is sent again with the same seqNo (the
CSMS stores it once).
"""

import asyncio
import collections
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import websockets
from ocpp.exceptions import OccurrenceConstraintViolationError
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from simulator import profiles
from simulator.car import Car
from simulator.connector import Connector
from simulator.station import CallError, StationBase, now_iso

logger = logging.getLogger(__name__)

ID_TOKEN_TYPE = "ISO14443"  # the drivers' cards
MEASURANDS = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"
# The trigger of the Ended event for each reason a session stops.
STOP_TRIGGERS = {
    "EVDisconnected": "EVCommunicationLost",
    "Local": "StopAuthorized",
    "Remote": "RemoteStop",
    "DeAuthorized": "Deauthorized",
    "ImmediateReset": "ResetCommand",
}
MAX_CHARGING_PROFILES = 10  # installed at once
TRIGGERABLE = {
    "BootNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "StatusNotification",
    "TransactionEvent",
}


@dataclass
class Variable:
    """One variable of the device model (its Actual attribute)."""

    component: str
    name: str
    value: str
    mutability: str = "ReadOnly"  # ReadOnly, ReadWrite or WriteOnly
    data_type: str = "string"
    evse: int | None = None
    connector: int | None = None
    instance: str | None = None
    unit: str | None = None
    values_list: str | None = None
    min_limit: float | None = None  # of a string: its length
    max_limit: float | None = None

    @property
    def key(self) -> tuple:
        return (self.component, self.evse, self.connector, self.name, self.instance)

    def component_json(self) -> dict:
        evse = None
        if self.evse is not None:
            evse = {"id": self.evse, **({"connector_id": self.connector} if self.connector is not None else {})}
        return {"name": self.component, **({"evse": evse} if evse else {})}

    def variable_json(self) -> dict:
        return {"name": self.name, **({"instance": self.instance} if self.instance else {})}

    def report_item(self) -> dict:
        attribute = {"type": "Actual", "mutability": self.mutability, "persistent": True, "constant": False}
        if self.mutability != "WriteOnly":
            attribute["value"] = self.value
        characteristics = {"data_type": self.data_type, "supports_monitoring": False}
        for name in ("unit", "values_list", "min_limit", "max_limit"):
            if getattr(self, name) is not None:
                characteristics[name] = getattr(self, name)
        return {
            "component": self.component_json(),
            "variable": self.variable_json(),
            "variable_attribute": [attribute],
            "variable_characteristics": characteristics,
        }

    def accepts(self, value: str) -> bool:
        if self.data_type == "integer":
            return value.isdigit() and (self.max_limit is None or int(value) <= self.max_limit)
        if self.data_type == "boolean":
            return value in ("true", "false")
        if self.data_type == "MemberList":
            return set(value.split(",")) <= set((self.values_list or "").split(","))
        if self.data_type == "OptionList":
            return value in (self.values_list or "").split(",")
        return (self.min_limit or 0) <= len(value) <= (self.max_limit or 1000)


def device_model(station) -> list[Variable]:
    config = station.config
    variables = [
        Variable("ChargingStation", "Model", config.model),
        Variable("ChargingStation", "VendorName", config.vendor),
        Variable("ChargingStation", "AvailabilityState", "Available", values_list="Available,Unavailable"),
        Variable("OCPPCommCtrlr", "HeartbeatInterval", "300", "ReadWrite", "integer", unit="s"),
        Variable("SampledDataCtrlr", "TxUpdatedInterval", f"{config.meter_interval:g}", "ReadWrite", "integer"),
        *(
            Variable("SampledDataCtrlr", name, MEASURANDS, "ReadWrite", "MemberList", values_list=MEASURANDS)
            for name in ("TxStartedMeasurands", "TxUpdatedMeasurands", "TxEndedMeasurands")
        ),
        Variable("AuthCtrlr", "AuthorizeRemoteStart", "false", "ReadWrite", "boolean"),
        Variable("TxCtrlr", "StopTxOnInvalidId", "true", "ReadWrite", "boolean"),
        Variable("SecurityCtrlr", "Identity", station.id),
        Variable("SecurityCtrlr", "SecurityProfile", "1", data_type="integer"),
        # The spec's passwordString; the 2.0.1 schema's DataEnumType knows only string. 16 to 40 characters.
        Variable("SecurityCtrlr", "BasicAuthPassword", "", "WriteOnly", min_limit=16, max_limit=40),
        # Read-only on many stations; writable here so that a CSMS's paging of reports can be tried.
        Variable("DeviceDataCtrlr", "ItemsPerMessage", "10", "ReadWrite", "integer", instance="GetReport"),
        Variable("DeviceDataCtrlr", "ItemsPerMessage", "20", data_type="integer", instance="GetVariables"),
        Variable("DeviceDataCtrlr", "ItemsPerMessage", "20", data_type="integer", instance="SetVariables"),
        Variable("SmartChargingCtrlr", "Enabled", "true", data_type="boolean"),
        Variable("SmartChargingCtrlr", "RateUnit", "A,W", data_type="MemberList", values_list="A,W"),
        Variable("SmartChargingCtrlr", "PeriodsPerSchedule", "24", data_type="integer"),
        Variable("SmartChargingCtrlr", "ProfileStackLevel", "10", data_type="integer"),
    ]
    for n in station.connectors:
        variables += [
            Variable("EVSE", "AvailabilityState", "Available", evse=n, values_list="Available,Occupied,Unavailable"),
            Variable("EVSE", "Power", str(config.max_power_w), data_type="decimal", evse=n, unit="W"),
            Variable("EVSE", "SupplyPhases", str(config.phases), data_type="integer", evse=n),
            Variable("Connector", "ConnectorType", "cType2", evse=n, connector=1),
        ]
    return variables


@dataclass
class Transaction:
    """What the station keeps of one transaction: its id, the next seqNo, and what the CSMS answered."""

    id: str
    meter_start: int
    seq_no: int = 0
    accepted: bool | None = None  # None: the Started event not answered yet

    def next_seq_no(self) -> int:
        self.seq_no += 1
        return self.seq_no - 1


class SimulatedStation201(StationBase, ChargePoint):
    """One simulated 2.0.1 charging station. ``await station.run(stop_event)`` keeps it connected until stopped."""

    subprotocol = "ocpp2.0.1"

    def __init__(self, ocpp_id: str, *args, **kwargs):
        super().__init__(ocpp_id, *args, **kwargs)
        self.variables = {variable.key: variable for variable in device_model(self)}
        self.transactions: dict[int, Transaction] = {}  # by EVSE id
        self.boot_reason = "PowerUp"
        # Transaction events to send, in order, with the future their answer goes to.
        self._queue: collections.deque[tuple[call.TransactionEvent, asyncio.Future]] = collections.deque()
        self._queued = asyncio.Event()
        self._sender: asyncio.Task | None = None
        self.charging_states: dict[int, str] = {}  # by EVSE id, while a transaction is in progress
        self._remote_starts: dict[int, int] = {}  # EVSE id -> remoteStartId of the start requested
        self._token_types: dict[str, str] = {}  # idToken -> its type, as a remote start gave it
        self._pending_start: tuple[int, dict, int] | None = None
        self._pending_variables: list[str] = []

    def variable(self, component: str, name: str, instance: str | None = None, evse: int | None = None) -> str:
        return self.variables[(component, evse, None, name, instance)].value

    # Boot

    async def _boot(self) -> None:
        reason, self.boot_reason = self.boot_reason, "PowerUp"
        while True:
            response = await self._call(self._boot_notification(reason))
            if response is None:
                raise ConnectionError("no answer to BootNotification")
            self.registration_status = response.status
            if response.status == "Accepted":
                if self.config.heartbeat_interval is None and response.interval > 0:
                    self.variables[("OCPPCommCtrlr", None, None, "HeartbeatInterval", None)].value = str(
                        response.interval
                    )
                return
            # Pending or Rejected: boot again after the interval (B02, B03); meanwhile the CSMS may ask for reports.
            await asyncio.sleep(response.interval or 10)

    def _boot_notification(self, reason: str) -> call.BootNotification:
        return call.BootNotification(
            charging_station={
                "vendor_name": self.config.vendor,
                "model": self.config.model,
                "serial_number": f"SN-{self.id}",
                "firmware_version": self.firmware_version,
            },
            reason=reason,
        )

    async def _booted(self) -> None:
        self._sender = asyncio.create_task(self._send_queued())
        for connector in self.connectors.values():
            await self._status(connector.connector_id)

    async def _serve(self, websocket, stop: asyncio.Event) -> None:
        try:
            await super()._serve(websocket, stop)
        finally:
            if self._sender is not None:
                self._sender.cancel()
                self._sender = None

    def heartbeat_interval(self) -> float:
        return int(self.variable("OCPPCommCtrlr", "HeartbeatInterval"))

    async def _heartbeat(self) -> None:
        await self._call(call.Heartbeat())

    async def _status(self, evse_id: int, status: str | None = None) -> None:
        connector = self.connectors[evse_id]
        if status is not None:
            connector.status = status
        await self._call(
            call.StatusNotification(
                timestamp=now_iso(), connector_status=connector.status, evse_id=evse_id, connector_id=1
            )
        )

    # The transaction event queue

    def _transaction_event(
        self,
        connector: Connector,
        event_type: str,
        trigger_reason: str,
        *,
        context: str | None = None,
        **fields,
    ) -> asyncio.Future:
        """Queue an event of the connector's transaction; the future gets its answer (or the CallError)."""
        transaction = self.transactions[connector.connector_id]
        info = {"transaction_id": transaction.id}
        for name in ("charging_state", "stopped_reason", "remote_start_id"):
            if (value := fields.pop(name, None)) is not None:
                info[name] = value
        measurands = {"Transaction.Begin": "TxStartedMeasurands", "Transaction.End": "TxEndedMeasurands"}
        event = call.TransactionEvent(
            event_type=event_type,
            timestamp=now_iso(),
            trigger_reason=trigger_reason,
            seq_no=transaction.next_seq_no(),
            transaction_info=info,
            offline=True if not self.booted.is_set() else None,
            evse={"id": connector.connector_id, "connector_id": 1},
            meter_value=[self._sample(connector, context, measurands.get(context))] if context else None,
            **fields,
        )
        answered = asyncio.get_running_loop().create_future()
        self._queue.append((event, answered))
        self._queued.set()
        return answered

    async def _send_queued(self) -> None:
        """Deliver the queue in order while connected; what is left waits for the next connection."""
        while True:
            while self._queue:
                event, answered = self._queue[0]
                self.stats.calls_sent += 1
                try:
                    response = await self._call_while_connected(event)
                except websockets.ConnectionClosed:
                    self.stats.calls_failed += 1
                    return
                except TimeoutError:
                    self.stats.calls_failed += 1
                    continue  # no answer in time: the same event (the same seqNo) again
                except CallError as error:
                    self.stats.call_errors += 1
                    logger.warning("CALLERROR", extra={"station_id": self.id, "action": "TransactionEvent"})
                    response = error
                self._queue.popleft()
                if not answered.done():
                    if isinstance(response, CallError):
                        answered.set_exception(response)
                    else:
                        answered.set_result(response)
            self._queued.clear()
            await self._queued.wait()

    # Sessions

    async def _session(self, connector: Connector, id_tag: str, remote: bool) -> None:
        remote_start_id = self._remote_starts.pop(connector.connector_id, None)
        id_token = {"id_token": id_tag, "type": self._token_types.pop(id_tag.upper(), ID_TOKEN_TYPE)}
        await self._status(connector.connector_id, "Occupied")  # the cable is plugged in
        if not remote or self.variable("AuthCtrlr", "AuthorizeRemoteStart") == "true":
            try:
                answer = await self._call(call.Authorize(id_token=id_token), errors=True)
            except CallError:
                answer = None
            status = None if answer is None else answer.id_token_info["status"]
            if status != "Accepted":
                self._session_outcome(connector, id_tag, "refused" if status else "errored", status or "no answer")
                await self._status(connector.connector_id, "Available")
                return
        connector.car = Car.arriving(self.rng)
        connector.id_tag = id_tag
        connector.meter_start = int(connector.energy_wh)
        connector.transaction_id = str(uuid.uuid4())
        transaction = self.transactions[connector.connector_id] = Transaction(
            connector.transaction_id, connector.meter_start
        )
        started = self._transaction_event(
            connector,
            "Started",
            "RemoteStart" if remote else "Authorized",
            context="Transaction.Begin",
            charging_state="EVConnected",
            remote_start_id=remote_start_id,
            id_token=id_token,
        )
        started.add_done_callback(lambda answered: self._started(connector, id_tag, transaction, answered))
        if self.booted.is_set():  # online: hear the CSMS out before charging (offline it charges at once)
            await asyncio.wait({started}, timeout=self.config.response_timeout)
        connector.started_at = time.monotonic()  # the driver's time starts with the charging, as in 1.6
        reason = connector.stop_reason
        if reason is None:
            reason = await self._charge(connector)
        await self._finish_session(connector, transaction, reason)

    def _started(self, connector: Connector, id_tag: str, transaction: Transaction, answered: asyncio.Future) -> None:
        """The CSMS's answer to a Started event, whenever it comes: a refused idToken ends the transaction."""
        error = answered.exception()
        if error is not None:
            self._session_outcome(connector, id_tag, "errored", str(error))
            return
        status = (answered.result().id_token_info or {}).get("status", "Accepted")
        transaction.accepted = status == "Accepted"
        self._session_outcome(connector, id_tag, "started" if transaction.accepted else "refused", status)
        same = self.transactions.get(connector.connector_id) is transaction
        if not transaction.accepted and same and self.variable("TxCtrlr", "StopTxOnInvalidId") == "true":
            self.stop_session(connector.connector_id, "DeAuthorized")

    def sample_interval(self) -> float:
        return float(self.variable("SampledDataCtrlr", "TxUpdatedInterval")) or self.config.meter_interval

    async def _charging_state_changed(self, connector: Connector) -> None:
        state = connector.charging_state
        self.charging_states[connector.connector_id] = state
        # Context "Other", not "Sample.Periodic": a change is no periodic sample, and one read in the same
        # millisecond as a periodic sample would otherwise be the same reading to the CSMS, stored once.
        self._transaction_event(connector, "Updated", "ChargingStateChanged", charging_state=state, context="Other")

    async def _meter_values(self, connector: Connector) -> None:
        self._transaction_event(connector, "Updated", "MeterValuePeriodic", context="Sample.Periodic")

    async def _finish_session(self, connector: Connector, transaction: Transaction, reason: str) -> None:
        meter_stop = int(connector.energy_wh)
        ended = self._transaction_event(
            connector,
            "Ended",
            STOP_TRIGGERS.get(reason, "AbnormalCondition"),
            context="Transaction.End",
            charging_state="EVConnected",
            stopped_reason=reason if reason in STOP_TRIGGERS else "Other",
        )
        # The connector stays taken until the CSMS has the whole transaction (a stop while offline included).
        try:
            await ended
        except CallError as error:
            if transaction.accepted:  # a refused start stays refused, whatever its end's answer
                self._session_outcome(connector, connector.id_tag, "errored", f"Ended: {error}")
        else:
            if transaction.accepted:
                self.stats.energy_wh += meter_stop - transaction.meter_start
                self._session_outcome(connector, connector.id_tag, "completed", reason)
        del self.transactions[connector.connector_id]
        self.charging_states.pop(connector.connector_id, None)
        self._end_transaction_profiles(connector)
        connector.transaction_id = connector.car = connector.id_tag = connector.started_at = None
        connector.power_w = 0.0
        if connector.inoperative_after_session:
            connector.operative, connector.inoperative_after_session = False, False
        await self._status(connector.connector_id, "Available" if connector.operative else "Unavailable")

    def _sample(self, connector: Connector, context: str, measurands_variable: str | None = None) -> dict:
        """One MeterValueType (snake_case keys, as the library expects) with the configured measurands."""
        measurands = set(self.variable("SampledDataCtrlr", measurands_variable or "TxUpdatedMeasurands").split(","))
        current = connector.current_a(voltage=self.config.voltage, phases=self.config.phases)

        def value(measurand, number, unit, **extra):
            return {
                "value": number,
                "context": context,
                "measurand": measurand,
                "unit_of_measure": {"unit": unit},
                **extra,
            }

        values = [
            value("Energy.Active.Import.Register", int(connector.energy_wh), "Wh", location="Outlet"),
            value("Power.Active.Import", int(connector.power_w), "W", location="Outlet"),
        ]
        for phase in range(1, self.config.phases + 1):
            values.append(value("Current.Import", round(current, 1), "A", phase=f"L{phase}", location="Outlet"))
            values.append(value("Voltage", self.config.voltage, "V", phase=f"L{phase}-N", location="Outlet"))
        if connector.car is not None:
            values.append(value("SoC", round(connector.car.soc), "Percent", location="EV"))
        return {"timestamp": now_iso(), "sampled_value": [v for v in values if v["measurand"] in measurands]}

    # Answers to the CSMS

    def _answered(self):
        self.stats.commands_answered += 1

    @on(Action.get_base_report)
    async def on_get_base_report(self, request_id, report_base, **_):
        self._answered()
        if report_base not in ("ConfigurationInventory", "FullInventory", "SummaryInventory"):
            return call_result.GetBaseReport(status="NotSupported")
        return call_result.GetBaseReport(status="Accepted")

    @after(Action.get_base_report)
    async def after_get_base_report(self, request_id, report_base, **_):
        if report_base == "ConfigurationInventory":
            chosen = [v for v in self.variables.values() if v.mutability != "ReadOnly"]
        elif report_base == "SummaryInventory":
            chosen = [v for v in self.variables.values() if v.name == "AvailabilityState"]
        elif report_base == "FullInventory":
            chosen = list(self.variables.values())
        else:
            return
        await self._notify_report(request_id, chosen)

    @on(Action.get_report)
    async def on_get_report(self, request_id, component_criteria=None, component_variable=None, **_):
        self._answered()
        chosen = self._report_selection(component_criteria, component_variable)
        return call_result.GetReport(status="Accepted" if chosen else "EmptyResultSet")

    @after(Action.get_report)
    async def after_get_report(self, request_id, component_criteria=None, component_variable=None, **_):
        chosen = self._report_selection(component_criteria, component_variable)
        if chosen:
            await self._notify_report(request_id, chosen)

    def _report_selection(self, criteria, component_variables) -> list[Variable]:
        """The variables a GetReport asks for: every component is Active, Available and Enabled, none a Problem."""
        if criteria and not set(criteria) & {"Active", "Available", "Enabled"}:
            return []
        chosen = list(self.variables.values())
        if component_variables:
            chosen = [v for v in chosen if any(self._named(v, wanted) for wanted in component_variables)]
        return chosen

    @staticmethod
    def _named(variable: Variable, wanted: dict) -> bool:
        component = wanted["component"]
        if component["name"] != variable.component or component.get("instance"):
            return False
        evse = component.get("evse")
        if evse and (evse["id"] != variable.evse or evse.get("connector_id", variable.connector) != variable.connector):
            return False
        named = wanted.get("variable")
        return not named or (named["name"] == variable.name and named.get("instance") == variable.instance)

    async def _notify_report(self, request_id: int, variables: list[Variable]) -> None:
        """The report in parts of ItemsPerMessage items, seqNo from 0, every part but the last with tbc."""
        size = max(1, int(self.variable("DeviceDataCtrlr", "ItemsPerMessage", "GetReport")))
        parts = [variables[i : i + size] for i in range(0, len(variables), size)]
        for seq_no, part in enumerate(parts):
            await self._call(
                call.NotifyReport(
                    request_id=request_id,
                    generated_at=now_iso(),
                    seq_no=seq_no,
                    tbc=seq_no < len(parts) - 1,
                    report_data=[variable.report_item() for variable in part],
                )
            )

    def _lookup(self, item: dict) -> tuple[Variable | None, str]:
        component, variable = item["component"], item["variable"]
        evse = component.get("evse") or {}
        key = (component["name"], evse.get("id"), evse.get("connector_id"), variable["name"], variable.get("instance"))
        if key in self.variables:
            return self.variables[key], "Accepted"
        known = any(v.component == component["name"] and v.evse == evse.get("id") for v in self.variables.values())
        return None, "UnknownVariable" if known else "UnknownComponent"

    def _check_items(self, items: list, instance: str) -> None:
        limit = int(self.variable("DeviceDataCtrlr", "ItemsPerMessage", instance))
        if len(items) > limit:
            raise OccurrenceConstraintViolationError(f"{len(items)} items; ItemsPerMessage {instance} is {limit}.")

    @on(Action.get_variables)
    async def on_get_variables(self, get_variable_data, **_):
        self._answered()
        self._check_items(get_variable_data, "GetVariables")
        results = []
        for item in get_variable_data:
            variable, status = self._lookup(item)
            attribute_type = item.get("attribute_type", "Actual")
            if variable is not None and attribute_type != "Actual":
                status = "NotSupportedAttributeType"
            elif variable is not None and variable.mutability == "WriteOnly":
                status = "Rejected"
            result = {"attribute_status": status, "component": item["component"], "variable": item["variable"]}
            if status == "Accepted":
                result["attribute_value"] = variable.value
            results.append({**result, "attribute_type": attribute_type})
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    async def on_set_variables(self, set_variable_data, **_):
        self._answered()
        self._check_items(set_variable_data, "SetVariables")
        results = []
        for item in set_variable_data:
            variable, status = self._lookup(item)
            attribute_type = item.get("attribute_type", "Actual")
            value = item["attribute_value"]
            if variable is not None:
                if attribute_type != "Actual":
                    status = "NotSupportedAttributeType"
                elif variable.mutability == "ReadOnly" or not variable.accepts(value):
                    status = "Rejected"
                else:
                    variable.value = value
                    self._pending_variables.append(variable.name)
            results.append(
                {
                    "attribute_status": status,
                    "component": item["component"],
                    "variable": item["variable"],
                    "attribute_type": attribute_type,
                }
            )
        return call_result.SetVariables(set_variable_result=results)

    @after(Action.set_variables)
    async def after_set_variables(self, **_):
        changed, self._pending_variables = self._pending_variables, []
        if "BasicAuthPassword" in changed:
            # A01.FR.11: reconnect with the new password; the sessions go on (their events wait in the queue).
            self.password = self.variable("SecurityCtrlr", "BasicAuthPassword")
            self._reboot_reason = "BasicAuthPassword"
            if self._websocket is not None:
                await self._websocket.close()

    @on(Action.request_start_transaction)
    async def on_request_start_transaction(self, id_token, remote_start_id, evse_id=None, **_):
        self._answered()
        free = [
            c
            for c in self.connectors.values()
            if c.operative and not c.busy and c.status == "Available" and evse_id in (None, c.connector_id)
        ]
        if not free:
            return call_result.RequestStartTransaction(status="Rejected")
        self._pending_start = (free[0].connector_id, id_token, remote_start_id)
        return call_result.RequestStartTransaction(status="Accepted")

    @after(Action.request_start_transaction)
    async def after_request_start_transaction(self, **_):
        if self._pending_start is not None:
            evse_id, id_token, remote_start_id = self._pending_start
            self._pending_start = None
            self._remote_starts[evse_id] = remote_start_id
            self._token_types[id_token["id_token"].upper()] = id_token["type"]
            self.start_session(evse_id, id_token["id_token"], remote=True)

    @on(Action.request_stop_transaction)
    async def on_request_stop_transaction(self, transaction_id, **_):
        self._answered()
        for connector in self.connectors.values():
            if connector.transaction_id == transaction_id and connector.busy:
                self.stop_session(connector.connector_id, "Remote")
                return call_result.RequestStopTransaction(status="Accepted")
        return call_result.RequestStopTransaction(status="Rejected")

    @on(Action.reset)
    async def on_reset(self, type, evse_id=None, **_):
        self._answered()
        if evse_id is not None:
            return call_result.Reset(status="Rejected")  # no reset of one EVSE alone
        busy = any(c.busy for c in self.connectors.values())
        return call_result.Reset(status="Scheduled" if type == "OnIdle" and busy else "Accepted")

    @after(Action.reset)
    async def after_reset(self, type, evse_id=None, **_):
        if evse_id is not None:
            return
        if type == "OnIdle":  # B12.FR.01: once the transactions have ended
            while sessions := [c.session_task for c in self.connectors.values() if c.busy]:
                await asyncio.wait(sessions)
        self.boot_reason = "RemoteReset"
        self.reboot("ImmediateReset")

    @on(Action.unlock_connector)
    async def on_unlock_connector(self, evse_id, connector_id, **_):
        self._answered()
        connector = self.connectors.get(evse_id)
        if connector is None or connector_id != 1:
            return call_result.UnlockConnector(status="UnknownConnector")
        if connector.transaction_id is not None:
            return call_result.UnlockConnector(status="OngoingAuthorizedTransaction")  # F05.FR.02
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.change_availability)
    async def on_change_availability(self, operational_status, evse=None, **_):
        self._answered()
        if evse is None:
            targets = list(self.connectors.values())
        else:
            targets = [self.connectors.get(evse["id"])]
        if None in targets or (evse and evse.get("connector_id") not in (None, 1)):
            return call_result.ChangeAvailability(status="Rejected")
        operative = operational_status == "Operative"
        scheduled = False
        for connector in targets:
            if connector.busy and not operative:
                connector.inoperative_after_session = scheduled = True
                continue
            connector.operative, connector.inoperative_after_session = operative, False
            if not connector.busy:
                self._spawn(self._status(connector.connector_id, "Available" if operative else "Unavailable"))
        return call_result.ChangeAvailability(status="Scheduled" if scheduled else "Accepted")

    @on(Action.trigger_message)
    async def on_trigger_message(self, requested_message, evse=None, **_):
        self._answered()
        if requested_message not in TRIGGERABLE:
            return call_result.TriggerMessage(status="NotImplemented")
        if evse is not None and evse["id"] not in self.connectors:
            return call_result.TriggerMessage(status="Rejected")
        return call_result.TriggerMessage(status="Accepted")

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message, evse=None, **_):
        if requested_message not in TRIGGERABLE or (evse is not None and evse["id"] not in self.connectors):
            return
        targets = [evse["id"]] if evse is not None else list(self.connectors)
        if requested_message == "BootNotification":
            response = await self._call(self._boot_notification("Triggered"))
            if response is not None:
                self.registration_status = response.status
        elif requested_message == "Heartbeat":
            await self._call(call.Heartbeat())
        elif requested_message == "FirmwareStatusNotification":
            await self._call(call.FirmwareStatusNotification(status=self.firmware_status))
        elif requested_message == "LogStatusNotification":
            await self._call(call.LogStatusNotification(status="Idle"))
        elif requested_message == "StatusNotification":
            for n in targets:
                await self._status(n)
        elif requested_message == "MeterValues":
            for n in targets:
                sample = self._sample(self.connectors[n], "Trigger")
                await self._call(call.MeterValues(evse_id=n, meter_value=[sample]))
        else:  # TransactionEvent: an Updated event of each transaction in progress
            for n in targets:
                if n in self.transactions:
                    self._transaction_event(self.connectors[n], "Updated", "Trigger", context="Trigger")

    # Smart charging (K01 set, K10 clear, K08 composite, K09 report)

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, evse_id, charging_profile, **_):
        self._answered()
        problem = (
            "Rejected by configuration"
            if self.reject_charging_profiles
            else self._profile_problem(evse_id, charging_profile)
        )
        if problem:
            return call_result.SetChargingProfile(
                status="Rejected", status_info={"reason_code": "InvalidProfile", "additional_info": problem}
            )
        self.install_profile(profiles.from_wire(charging_profile, evse_id, datetime.now(UTC)))
        return call_result.SetChargingProfile(status="Accepted")

    def _profile_problem(self, evse_id: int, wire: dict) -> str | None:
        """Why a 2.0.1 station refuses the profile (K01), or None."""
        purpose = wire["charging_profile_purpose"]
        schedule = wire["charging_schedule"][0]
        if evse_id != 0 and evse_id not in self.connectors:
            return f"no EVSE {evse_id}"
        if purpose == "ChargingStationExternalConstraints":
            return "set by an external system only"  # K01.FR.22
        if purpose == "ChargingStationMaxProfile" and evse_id != 0:
            return "a station maximum is set on EVSE 0"
        if wire["stack_level"] > int(self.variable("SmartChargingCtrlr", "ProfileStackLevel")):
            return "stack level above ProfileStackLevel"
        if schedule["charging_rate_unit"] not in self.variable("SmartChargingCtrlr", "RateUnit").split(","):
            return "rate unit not supported"
        periods = schedule["charging_schedule_period"]
        if len(periods) > int(self.variable("SmartChargingCtrlr", "PeriodsPerSchedule")) or periods[0]["start_period"]:
            return "schedule periods"
        if purpose == "TxProfile":
            if evse_id == 0 or not wire.get("transaction_id"):
                return "a TxProfile is for a transaction on an EVSE"  # K01.FR.03
            if self.connectors[evse_id].transaction_id != wire["transaction_id"]:
                return "no such transaction on the EVSE"  # K01.FR.09
        profile = profiles.from_wire(wire, evse_id, datetime.now(UTC))
        if sum(not profiles.replaces(profile, p) for p in self.charging_profiles.values()) >= MAX_CHARGING_PROFILES:
            return "no room for another profile"
        return None

    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(self, charging_profile_id=None, charging_profile_criteria=None, **_):
        self._answered()
        criteria = charging_profile_criteria or {}
        evse_id, stack_level = criteria.get("evse_id"), criteria.get("stack_level")
        purpose = profiles.PURPOSES.get(criteria.get("charging_profile_purpose"))
        cleared = self.clear_profiles(
            lambda p: (
                (charging_profile_id is None or p.id == charging_profile_id)
                and (evse_id is None or p.connector_id == evse_id)
                and (purpose is None or p.purpose == purpose)
                and (stack_level is None or p.stack_level == stack_level)
            )
        )
        return call_result.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @on(Action.get_composite_schedule)
    async def on_get_composite_schedule(self, duration, evse_id, charging_rate_unit=None, **_):
        self._answered()
        if evse_id != 0 and evse_id not in self.connectors:
            return call_result.GetCompositeSchedule(status="Rejected")
        unit = charging_rate_unit or "W"
        periods = self.composite_schedule(evse_id, duration, unit)
        return call_result.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evse_id": evse_id,
                "duration": duration,
                "schedule_start": now_iso(),
                "charging_rate_unit": unit,
                "charging_schedule_period": [
                    {"start_period": p.start, "limit": p.limit, **({"number_phases": p.phases} if p.phases else {})}
                    for p in periods
                ],
            },
        )

    def _profiles_asked(self, evse_id, criterion: dict) -> dict[int, list[profiles.Profile]]:
        """The profiles a GetChargingProfiles selects, by EVSE (K09)."""
        if criterion.get("charging_limit_source") and "CSO" not in criterion["charging_limit_source"]:
            return {}
        ids = criterion.get("charging_profile_id")
        purpose = profiles.PURPOSES.get(criterion.get("charging_profile_purpose"))
        stack_level = criterion.get("stack_level")
        chosen: dict[int, list[profiles.Profile]] = {}
        for profile in self.charging_profiles.values():
            if (
                (evse_id is None or profile.connector_id == evse_id)
                and (not ids or profile.id in ids)
                and (purpose is None or profile.purpose == purpose)
                and (stack_level is None or profile.stack_level == stack_level)
            ):
                chosen.setdefault(profile.connector_id, []).append(profile)
        return chosen

    @on(Action.get_charging_profiles)
    async def on_get_charging_profiles(self, request_id, charging_profile, evse_id=None, **_):
        self._answered()
        found = self._profiles_asked(evse_id, charging_profile)
        return call_result.GetChargingProfiles(status="Accepted" if found else "NoProfiles")

    @after(Action.get_charging_profiles)
    async def after_get_charging_profiles(self, request_id, charging_profile, evse_id=None, **_):
        found = sorted(self._profiles_asked(evse_id, charging_profile).items())
        for index, (evse, held) in enumerate(found):
            await self._call(
                call.ReportChargingProfiles(
                    request_id=request_id,
                    charging_limit_source="CSO",
                    evse_id=evse,
                    charging_profile=[p.wire for p in held],
                    tbc=index < len(found) - 1,
                )
            )
