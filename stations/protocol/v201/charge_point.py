"""The OCPP 2.0.1 ChargePoint: one class composed of handler mixins, one per functional block of the spec."""

import json

from ocpp.exceptions import SecurityError
from ocpp.v201 import ChargePoint as LibraryChargePoint
from ocpp.v201.enums import Action

from stations.models import Station
from stations.protocol.framing.dispatch import RpcDispatch
from stations.protocol.v201.authorization import AuthorizationHandlers
from stations.protocol.v201.availability import AvailabilityHandlers
from stations.protocol.v201.data_transfer import DataTransferHandlers
from stations.protocol.v201.diagnostics import DiagnosticsHandlers
from stations.protocol.v201.firmware import FirmwareHandlers
from stations.protocol.v201.metering import MeteringHandlers
from stations.protocol.v201.plug_and_charge import PlugAndChargeHandlers
from stations.protocol.v201.provisioning import ProvisioningHandlers
from stations.protocol.v201.reservation import ReservationHandlers
from stations.protocol.v201.security import SecurityHandlers
from stations.protocol.v201.smart_charging import SmartChargingHandlers
from stations.protocol.v201.transactions import TransactionHandlers

PENDING = Station.RegistrationStatus.PENDING
# B02.FR.09: while Pending, besides BootNotification a station may send only what the CSMS asked for with
# TriggerMessage (counted by RpcDispatch), GetBaseReport or GetReport (the NotifyReport parts that answer).
REPORT_REQUESTS = frozenset({"GetBaseReport", "GetReport"})


class ChargePoint201(
    RpcDispatch,
    ProvisioningHandlers,
    AuthorizationHandlers,
    TransactionHandlers,
    ReservationHandlers,
    SmartChargingHandlers,
    MeteringHandlers,
    AvailabilityHandlers,
    FirmwareHandlers,
    DiagnosticsHandlers,
    DataTransferHandlers,
    SecurityHandlers,
    PlugAndChargeHandlers,
    LibraryChargePoint,
):
    """The CSMS side of one 2.0.1 connection; ``self.station`` is the authenticated Station."""

    known_actions = frozenset(action.value for action in Action)

    def __init__(self, station, connection, **kwargs):
        super().__init__(station, connection, **kwargs)
        self._report_requested = False

    def _check_registration(self, action: str) -> None:
        if self.registration_status == PENDING and self._triggered[action] == 0:
            # Unlike 1.6, 2.0.1 allows no Heartbeat while Pending unless triggered.
            if action == "Heartbeat":
                raise SecurityError("The station's registration is Pending: Heartbeat only when triggered (B02.FR.09).")
            if action == "NotifyReport" and self._report_requested:
                return
        super()._check_registration(action)

    async def send_message(self, message: str):
        await super().send_message(message)
        if not self._report_requested and any(f'"{action}"' in message for action in REPORT_REQUESTS):
            frame = json.loads(message)
            self._report_requested = frame[0] == 2 and frame[2] in REPORT_REQUESTS
