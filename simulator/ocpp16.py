"""The OCPP 1.6J station: the simulator's stations as a 1.6 charge point on the `ocpp` library's client side.

It boots, heartbeats and reports status; its drivers authorise and charge (StartTransaction, MeterValues,
StopTransaction); it answers every CSMS-initiated 1.6 call the way a station would, charging profiles and
reservations included, and reboots (reconnects and boots again) on Reset, a new AuthorizationKey or a firmware
update. Firmware is downloaded and diagnostics uploaded for real (``simulator.transfers``). The connection,
drivers, meters and cars are version-free (``simulator.station``, ``connector``, ``car``); a 2.0.1 station
would sit beside this module.
"""

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from simulator import profiles
from simulator.car import Car
from simulator.connector import Connector
from simulator.station import CallError, StationBase, now_iso, parse_time
from simulator.transfers import firmware_version_from

logger = logging.getLogger(__name__)

VENDOR_ID = "Voltgrid"  # DataTransfer vendorId the simulator understands (it echoes the data)


def decode_authorization_key(value: str) -> str:
    """A 16-20 byte password is sent hex-encoded (32-40 characters); a shorter value is taken as it is."""
    if 32 <= len(value) <= 40 and len(value) % 2 == 0:
        with contextlib.suppress(ValueError):
            return bytes.fromhex(value).decode("utf-8")
    return value


# Configuration keys: name -> (value, read-only). AuthorizationKey is write-only (never reported).
CONFIGURATION = {
    "AuthorizeRemoteTxRequests": ("false", False),
    "ChargeProfileMaxStackLevel": ("10", True),
    "ChargingScheduleAllowedChargingRateUnit": ("Current,Power", True),
    "ChargingScheduleMaxPeriods": ("24", True),
    "ClockAlignedDataInterval": ("0", False),
    "ConnectionTimeOut": ("60", False),
    "HeartbeatInterval": ("300", False),
    "LocalAuthListEnabled": ("true", False),
    "LocalAuthListMaxLength": ("1000", True),
    "LocalAuthorizeOffline": ("true", False),
    "LocalPreAuthorize": ("false", False),
    "MaxChargingProfilesInstalled": ("10", True),
    "MeterValueSampleInterval": ("10", False),
    "MeterValuesSampledData": ("Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC", False),
    "NumberOfConnectors": ("1", True),
    "ReserveConnectorZeroSupported": ("false", True),
    "SendLocalListMaxLength": ("1000", True),
    "StopTransactionOnInvalidId": ("true", False),
    "SupportedFeatureProfiles": (
        "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger",
        True,
    ),
}
INTEGER_KEYS = {"ClockAlignedDataInterval", "ConnectionTimeOut", "HeartbeatInterval", "MeterValueSampleInterval"}
BOOLEAN_KEYS = {
    "AuthorizeRemoteTxRequests",
    "LocalAuthListEnabled",
    "LocalAuthorizeOffline",
    "LocalPreAuthorize",
    "StopTransactionOnInvalidId",
}
TRIGGERABLE = {
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
}


class SimulatedStation(StationBase, ChargePoint):
    """One simulated 1.6J charge point. ``await station.run(stop_event)`` keeps it connected until stopped."""

    subprotocol = "ocpp1.6"
    transaction_messages = (call.StartTransaction, call.StopTransaction, call.MeterValues)

    def __init__(self, ocpp_id: str, *args, **kwargs):
        super().__init__(ocpp_id, *args, **kwargs)
        self.configuration = {key: value for key, (value, _) in CONFIGURATION.items()}
        self.configuration["NumberOfConnectors"] = str(self.config.connectors)
        self.configuration["MeterValueSampleInterval"] = f"{self.config.meter_interval:g}"
        self.local_list: dict[str, dict] = {}
        self.local_list_version = 0
        self.diagnostics_status = "Idle"
        self._diagnostics_name = ""
        self._remote_start: tuple[int, str] | None = None

    # Boot

    async def _boot(self) -> None:
        while True:
            response = await self._call(
                call.BootNotification(
                    charge_point_vendor=self.config.vendor,
                    charge_point_model=self.config.model,
                    charge_point_serial_number=f"SN-{self.id}",
                    firmware_version=self.firmware_version,
                    meter_type="Simulated MID meter",
                )
            )
            if response is None:
                raise ConnectionError("no answer to BootNotification")
            self.registration_status = response.status
            if response.status == "Accepted":
                if self.config.heartbeat_interval is None and response.interval > 0:
                    self.configuration["HeartbeatInterval"] = str(response.interval)
                return
            # Pending or Rejected: try again after the interval the CSMS asked for (it may send commands meanwhile).
            await asyncio.sleep(response.interval or 10)

    async def _booted(self) -> None:
        if self.firmware_status == "Installing":
            await self._firmware_status("Installed")
        await self._status(0)
        for connector in self.connectors.values():
            await self._status(connector.connector_id)

    def heartbeat_interval(self) -> float:
        return int(self.configuration["HeartbeatInterval"])

    async def _heartbeat(self) -> None:
        await self._call(call.Heartbeat())

    async def _status(self, connector_id: int, status: str | None = None) -> None:
        if connector_id == 0:
            status, error_code = ("Available" if self.booted.is_set() else "Unavailable"), "NoError"
        else:
            connector = self.connectors[connector_id]
            if status is not None:
                connector.status = status
            status, error_code = connector.status, connector.error_code
        await self._call(
            call.StatusNotification(
                connector_id=connector_id, error_code=error_code, status=status, timestamp=now_iso()
            )
        )

    # Sessions

    async def _session(self, connector: Connector, id_tag: str, remote: bool) -> None:
        await self._status(connector.connector_id, "Preparing")
        if not remote or self.configuration["AuthorizeRemoteTxRequests"] == "true":
            try:
                answer = await self._call(call.Authorize(id_tag=id_tag), errors=True)
            except CallError:
                answer = None
            status = None if answer is None else answer.id_tag_info["status"]
            if status != "Accepted":
                self._session_outcome(connector, id_tag, "refused" if status else "errored", status or "no answer")
                await self._status(connector.connector_id, "Available")
                return
        connector.car = Car.arriving(self.rng)
        connector.id_tag = id_tag
        connector.meter_start = int(connector.energy_wh)
        reservation_id = None
        if connector.reservation and connector.reservation["id_tag"].upper() == id_tag.upper():
            reservation_id = connector.reservation["id"]
            connector.reservation = None
        try:
            started = await self._call(
                call.StartTransaction(
                    connector_id=connector.connector_id,
                    id_tag=id_tag,
                    meter_start=connector.meter_start,
                    timestamp=now_iso(),
                    reservation_id=reservation_id,
                ),
                errors=True,
            )
        except CallError as error:  # the CSMS would not take the session at all
            self._session_outcome(connector, id_tag, "errored", str(error))
            connector.car = connector.id_tag = None
            await self._status(connector.connector_id, "Available")
            return
        connector.transaction_id = started.transaction_id
        connector.started_at = time.monotonic()
        accepted = started.id_tag_info["status"] == "Accepted"
        self._session_outcome(connector, id_tag, "started" if accepted else "refused", started.id_tag_info["status"])
        begin = self._sample(connector, "Transaction.Begin")
        stop_reason = None
        if not accepted and self.configuration["StopTransactionOnInvalidId"] == "true":
            stop_reason = "DeAuthorized"
        else:
            stop_reason = await self._charge(connector)
        await self._finish_session(connector, stop_reason, begin, accepted=accepted)

    def sample_interval(self) -> float:
        return float(self.configuration["MeterValueSampleInterval"]) or self.config.meter_interval

    async def _charging_state_changed(self, connector: Connector) -> None:
        await self._status(connector.connector_id, connector.charging_state)  # the 1.6 status of the same name

    async def _finish_session(self, connector: Connector, reason: str, begin: dict, *, accepted: bool) -> None:
        meter_stop = int(connector.energy_wh)
        try:
            await self._call(
                call.StopTransaction(
                    meter_stop=meter_stop,
                    timestamp=now_iso(),
                    transaction_id=connector.transaction_id,
                    reason=reason,
                    id_tag=connector.id_tag,
                    transaction_data=[begin, self._sample(connector, "Transaction.End")],
                ),
                errors=True,
            )
        except CallError as error:
            if accepted:  # a refused start stays refused, whatever its stop's answer
                self._session_outcome(connector, connector.id_tag, "errored", f"StopTransaction: {error}")
        else:
            if accepted:
                self.stats.energy_wh += meter_stop - connector.meter_start
                self._session_outcome(connector, connector.id_tag, "completed", reason)
        connector.transaction_id = connector.car = connector.id_tag = connector.started_at = None
        connector.power_w = 0.0
        self._end_transaction_profiles(connector)
        await self._status(connector.connector_id, "Finishing")
        if connector.inoperative_after_session:
            connector.operative, connector.inoperative_after_session = False, False
        await self._status(connector.connector_id, "Available" if connector.operative else "Unavailable")

    def _sample(self, connector: Connector, context: str) -> dict:
        """One meterValue entry in the station's wire format (snake_case keys, as the library expects)."""
        measurands = set(self.configuration["MeterValuesSampledData"].split(","))
        phases = self.config.phases
        current = connector.current_a(voltage=self.config.voltage, phases=phases)

        def value(measurand, number, unit, **extra):
            return {"value": number, "context": context, "measurand": measurand, "unit": unit, **extra}

        values = [
            value("Energy.Active.Import.Register", str(int(connector.energy_wh)), "Wh", location="Outlet"),
            value("Power.Active.Import", str(int(connector.power_w)), "W", location="Outlet"),
        ]
        for phase in range(1, phases + 1):
            values.append(value("Current.Import", f"{current:.1f}", "A", phase=f"L{phase}", location="Outlet"))
            values.append(value("Voltage", f"{self.config.voltage:.1f}", "V", phase=f"L{phase}-N", location="Outlet"))
        if connector.car is not None:
            values.append(value("SoC", f"{connector.car.soc:.0f}", "Percent", location="EV"))
        return {"timestamp": now_iso(), "sampled_value": [v for v in values if v["measurand"] in measurands]}

    async def _meter_values(self, connector: Connector) -> None:
        await self._call(
            call.MeterValues(
                connector_id=connector.connector_id,
                transaction_id=connector.transaction_id,
                meter_value=[self._sample(connector, "Sample.Periodic")],
            )
        )

    # Answers to the CSMS

    def _answered(self):
        self.stats.commands_answered += 1

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(self, reservation_id, **_):
        self._answered()
        for connector in self.connectors.values():
            if connector.reservation and connector.reservation["id"] == reservation_id:
                connector.reservation = None
                self._spawn(self._status(connector.connector_id, "Available"))
                return call_result.CancelReservation(status="Accepted")
        return call_result.CancelReservation(status="Rejected")

    @on(Action.change_availability)
    async def on_change_availability(self, connector_id, type, **_):
        self._answered()
        targets = list(self.connectors.values()) if connector_id == 0 else [self.connectors.get(connector_id)]
        if None in targets:
            return call_result.ChangeAvailability(status="Rejected")
        operative = type == "Operative"
        scheduled = False
        for connector in targets:
            if connector.busy and not operative:
                connector.inoperative_after_session = scheduled = True
                continue
            connector.operative = operative
            connector.inoperative_after_session = False
            if not connector.busy:
                self._spawn(self._status(connector.connector_id, "Available" if operative else "Unavailable"))
        return call_result.ChangeAvailability(status="Scheduled" if scheduled else "Accepted")

    @on(Action.change_configuration)
    async def on_change_configuration(self, key, value, **_):
        self._answered()
        if key == "AuthorizationKey":
            return call_result.ChangeConfiguration(status="Accepted")
        if key not in self.configuration:
            return call_result.ChangeConfiguration(status="NotSupported")
        if CONFIGURATION[key][1]:
            return call_result.ChangeConfiguration(status="Rejected")
        if (key in INTEGER_KEYS and not (value.isdigit())) or (key in BOOLEAN_KEYS and value not in ("true", "false")):
            return call_result.ChangeConfiguration(status="Rejected")
        self.configuration[key] = value
        return call_result.ChangeConfiguration(status="Accepted")

    @after(Action.change_configuration)
    async def after_change_configuration(self, key, value, **_):
        if key == "AuthorizationKey":
            # A new Basic-auth password, hex-encoded as the 1.6 security whitepaper asks: reconnect with it.
            self.password = decode_authorization_key(value)
            self.reboot("Reboot")

    @on(Action.clear_cache)
    async def on_clear_cache(self, **_):
        self._answered()
        return call_result.ClearCache(status="Accepted")

    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(
        self, id=None, connector_id=None, charging_profile_purpose=None, stack_level=None, **_
    ):
        self._answered()
        purpose = profiles.PURPOSES.get(charging_profile_purpose)
        cleared = self.clear_profiles(
            lambda p: (
                (id is None or p.id == id)
                and (connector_id is None or p.connector_id == connector_id)
                and (purpose is None or p.purpose == purpose)
                and (stack_level is None or p.stack_level == stack_level)
            )
        )
        return call_result.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id, message_id=None, data=None, **_):
        self._answered()
        if vendor_id != VENDOR_ID:
            return call_result.DataTransfer(status="UnknownVendorId")
        return call_result.DataTransfer(status="Accepted", data=data)

    @on(Action.get_composite_schedule)
    async def on_get_composite_schedule(self, connector_id, duration, charging_rate_unit=None, **_):
        self._answered()
        if connector_id != 0 and connector_id not in self.connectors:
            return call_result.GetCompositeSchedule(status="Rejected")
        unit = charging_rate_unit or "W"
        periods = self.composite_schedule(connector_id, duration, unit)
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=now_iso(),
            charging_schedule={
                "duration": duration,
                "charging_rate_unit": unit,
                "charging_schedule_period": [
                    {"start_period": p.start, "limit": p.limit, **({"number_phases": p.phases} if p.phases else {})}
                    for p in periods
                ],
            },
        )

    @on(Action.get_configuration)
    async def on_get_configuration(self, key=None, **_):
        self._answered()
        wanted = key or list(self.configuration)
        known = [k for k in wanted if k in self.configuration]
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": k, "readonly": CONFIGURATION[k][1], "value": self.configuration[k]} for k in known
            ],
            unknown_key=[k for k in wanted if k not in self.configuration] or None,
        )

    @on(Action.get_diagnostics)
    async def on_get_diagnostics(self, location, **_):
        self._answered()
        self._diagnostics_name = f"diagnostics-{self.id}-{int(time.time())}.log"
        return call_result.GetDiagnostics(file_name=self._diagnostics_name)

    @after(Action.get_diagnostics)
    async def after_get_diagnostics(self, location, **_):
        await asyncio.sleep(self.config.step_delay)
        await self._diagnostics_status("Uploading")
        uploaded = await self.upload_diagnostics(location, self._diagnostics_name)
        await self._diagnostics_status("Uploaded" if uploaded else "UploadFailed")

    async def _diagnostics_status(self, status: str) -> None:
        self.diagnostics_status = status
        logger.info(f"diagnostics {status}", extra={"station_id": self.id})
        await self._call(call.DiagnosticsStatusNotification(status=status))

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self, **_):
        self._answered()
        enabled = self.configuration["LocalAuthListEnabled"] == "true"
        return call_result.GetLocalListVersion(list_version=self.local_list_version if enabled else -1)

    @on(Action.remote_start_transaction)
    async def on_remote_start_transaction(self, id_tag, connector_id=None, charging_profile=None, **_):
        self._answered()
        connector = self._connector_for_remote_start(connector_id, id_tag)
        if connector is None or (charging_profile and charging_profile["charging_profile_purpose"] != "TxProfile"):
            return call_result.RemoteStartTransaction(status="Rejected")
        if charging_profile:
            self._install_profile(connector.connector_id, charging_profile)
        self._remote_start = (connector.connector_id, id_tag)
        return call_result.RemoteStartTransaction(status="Accepted")

    @after(Action.remote_start_transaction)
    async def after_remote_start_transaction(self, **_):
        if self._remote_start is not None:
            connector_id, id_tag = self._remote_start
            self._remote_start = None
            self.start_session(connector_id, id_tag, remote=True)

    def _connector_for_remote_start(self, connector_id: int | None, id_tag: str) -> Connector | None:
        def free(c: Connector) -> bool:
            reserved_for_other = c.reservation is not None and c.reservation["id_tag"].upper() != id_tag.upper()
            return (
                c.operative
                and not c.busy
                and c.status in ("Available", "Preparing", "Reserved")
                and not (reserved_for_other)
            )

        if connector_id is not None:
            connector = self.connectors.get(connector_id)
            return connector if connector is not None and free(connector) else None
        return next((c for c in self.connectors.values() if free(c)), None)

    @on(Action.remote_stop_transaction)
    async def on_remote_stop_transaction(self, transaction_id, **_):
        self._answered()
        for connector in self.connectors.values():
            if connector.transaction_id == transaction_id and connector.busy:
                self.stop_session(connector.connector_id, "Remote")
                return call_result.RemoteStopTransaction(status="Accepted")
        return call_result.RemoteStopTransaction(status="Rejected")

    @on(Action.reserve_now)
    async def on_reserve_now(self, connector_id, expiry_date, id_tag, reservation_id, parent_id_tag=None, **_):
        self._answered()
        connector = self.connectors.get(connector_id)
        if connector is None:
            return call_result.ReserveNow(status="Rejected")  # 0 too: ReserveConnectorZeroSupported is false
        if not connector.operative:
            return call_result.ReserveNow(status="Unavailable")
        if connector.error_code != "NoError":
            return call_result.ReserveNow(status="Faulted")
        if connector.busy or (connector.reservation and connector.reservation["id"] != reservation_id):
            return call_result.ReserveNow(status="Occupied")
        connector.reservation = {"id": reservation_id, "id_tag": id_tag, "expires_at": parse_time(expiry_date)}
        self._spawn(self._status(connector_id, "Reserved"))
        self._spawn(self._expire_reservation(connector, reservation_id))
        return call_result.ReserveNow(status="Accepted")

    async def _expire_reservation(self, connector: Connector, reservation_id: int) -> None:
        seconds = (connector.reservation["expires_at"] - datetime.now(UTC)).total_seconds()
        await asyncio.sleep(max(0.0, seconds))
        if connector.reservation and connector.reservation["id"] == reservation_id:
            connector.reservation = None
            await self._status(connector.connector_id, "Available")

    @on(Action.reset)
    async def on_reset(self, type, **_):
        self._answered()
        return call_result.Reset(status="Accepted")

    @after(Action.reset)
    async def after_reset(self, type, **_):
        self.reboot("HardReset" if type == "Hard" else "SoftReset")

    @on(Action.send_local_list)
    async def on_send_local_list(self, list_version, update_type, local_authorization_list=None, **_):
        self._answered()
        if self.configuration["LocalAuthListEnabled"] != "true":
            return call_result.SendLocalList(status="NotSupported")
        entries = local_authorization_list or []
        if update_type == "Differential" and list_version <= self.local_list_version:
            return call_result.SendLocalList(status="VersionMismatch")
        if update_type == "Full":
            self.local_list = {}
        for entry in entries:
            if entry.get("id_tag_info"):
                self.local_list[entry["id_tag"].upper()] = entry["id_tag_info"]
            else:
                self.local_list.pop(entry["id_tag"].upper(), None)
        self.local_list_version = list_version
        return call_result.SendLocalList(status="Accepted")

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, connector_id, cs_charging_profiles, **_):
        self._answered()
        accepted = not self.reject_charging_profiles and self._profile_acceptable(connector_id, cs_charging_profiles)
        if accepted:
            self._install_profile(connector_id, cs_charging_profiles)
        return call_result.SetChargingProfile(status="Accepted" if accepted else "Rejected")

    def _profile_acceptable(self, connector_id: int, wire: dict) -> bool:
        """What a 1.6 charge point checks before installing a profile (§3.13, §5.16); one that implements
        TxDefaultProfile only (``reject_tx_profiles``, as many do) refuses TxProfiles."""
        purpose = wire["charging_profile_purpose"]
        if purpose == "TxProfile" and self.reject_tx_profiles:
            return False
        periods = wire["charging_schedule"]["charging_schedule_period"]
        if connector_id != 0 and connector_id not in self.connectors:
            return False
        if (purpose == "ChargePointMaxProfile" and connector_id != 0) or (purpose == "TxProfile" and connector_id == 0):
            return False
        if wire["stack_level"] > int(self.configuration["ChargeProfileMaxStackLevel"]):
            return False
        if len(periods) > int(self.configuration["ChargingScheduleMaxPeriods"]) or periods[0]["start_period"] != 0:
            return False
        if purpose == "TxProfile":
            transaction_id = self.connectors[connector_id].transaction_id
            if transaction_id is None or wire.get("transaction_id") not in (None, transaction_id):
                return False
        profile = profiles.from_wire(wire, connector_id, datetime.now(UTC))
        held = sum(not profiles.replaces(profile, p) for p in self.charging_profiles.values())
        return held < int(self.configuration["MaxChargingProfilesInstalled"])

    def _install_profile(self, connector_id: int, wire: dict) -> None:
        self.install_profile(profiles.from_wire(wire, connector_id, datetime.now(UTC)))

    @on(Action.trigger_message)
    async def on_trigger_message(self, requested_message, connector_id=None, **_):
        self._answered()
        if requested_message not in TRIGGERABLE:
            return call_result.TriggerMessage(status="NotImplemented")
        if connector_id is not None and connector_id not in self.connectors:
            return call_result.TriggerMessage(status="Rejected")
        return call_result.TriggerMessage(status="Accepted")

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message, connector_id=None, **_):
        if requested_message not in TRIGGERABLE:
            return
        if requested_message == "BootNotification":
            response = await self._call(
                call.BootNotification(
                    charge_point_vendor=self.config.vendor,
                    charge_point_model=self.config.model,
                    charge_point_serial_number=f"SN-{self.id}",
                    firmware_version=self.firmware_version,
                )
            )
            if response is not None:
                self.registration_status = response.status
        elif requested_message == "Heartbeat":
            await self._call(call.Heartbeat())
        elif requested_message == "DiagnosticsStatusNotification":
            await self._call(call.DiagnosticsStatusNotification(status=self.diagnostics_status))
        elif requested_message == "FirmwareStatusNotification":
            await self._call(call.FirmwareStatusNotification(status=self.firmware_status))
        else:
            targets = [connector_id] if connector_id is not None else list(self.connectors)
            for n in targets:
                if requested_message == "StatusNotification":
                    await self._status(n)
                elif self.connectors[n].transaction_id is not None:
                    await self._meter_values(self.connectors[n])

    @on(Action.unlock_connector)
    async def on_unlock_connector(self, connector_id, **_):
        self._answered()
        if connector_id not in self.connectors:
            return call_result.UnlockConnector(status="NotSupported")
        # The session ends (StopTransaction) after this answer: a handler must not wait for the CSMS's answers.
        self.stop_session(connector_id, "UnlockCommand")
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.update_firmware)
    async def on_update_firmware(self, location, retrieve_date, **_):
        self._answered()
        return call_result.UpdateFirmware()

    @after(Action.update_firmware)
    async def after_update_firmware(self, location, retrieve_date, **_):
        wait = (parse_time(retrieve_date) - datetime.now(UTC)).total_seconds()
        await asyncio.sleep(min(max(0.0, wait), 3600))
        await self._firmware_status("Downloading")
        if await self.download_firmware(location) is None:
            await self._firmware_status("DownloadFailed")
            return
        for status in ("Downloaded", "Installing"):
            await self._firmware_status(status)
            await asyncio.sleep(self.config.step_delay)
        # Installs once no one is charging, then boots into the new version (and reports Installed).
        while sessions := [c.session_task for c in self.connectors.values() if c.busy]:
            await asyncio.wait(sessions)
        self.firmware_version = firmware_version_from(location) or self.firmware_version
        self.reboot("Reboot")

    async def _firmware_status(self, status: str) -> None:
        self.firmware_status = status
        logger.info(f"firmware {status}", extra={"station_id": self.id})
        await self._call(call.FirmwareStatusNotification(status=status))
