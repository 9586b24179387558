"""OCPP 1.6J: one ChargePoint class composed of handler mixins, one per functional block of the spec."""

from ocpp.v16 import ChargePoint as LibraryChargePoint
from ocpp.v16.enums import Action

from stations.protocol.framing.dispatch import RpcDispatch
from stations.protocol.v16.authorization import AuthorizationHandlers
from stations.protocol.v16.availability import AvailabilityHandlers
from stations.protocol.v16.core import CoreHandlers
from stations.protocol.v16.data_transfer import DataTransferHandlers
from stations.protocol.v16.firmware import FirmwareHandlers
from stations.protocol.v16.metering import MeteringHandlers
from stations.protocol.v16.security import SecurityHandlers
from stations.protocol.v16.transactions import TransactionHandlers


class ChargePoint16(
    RpcDispatch,
    CoreHandlers,
    AuthorizationHandlers,
    TransactionHandlers,
    MeteringHandlers,
    AvailabilityHandlers,
    FirmwareHandlers,
    DataTransferHandlers,
    SecurityHandlers,
    LibraryChargePoint,
):
    """The CSMS side of one 1.6J connection; ``self.station`` is the authenticated Station."""

    known_actions = frozenset(action.value for action in Action)
