"""OCPP 1.6J: one ChargePoint class composed of handler mixins, one per functional block of the spec."""

from ocpp.v16 import ChargePoint as LibraryChargePoint

from stations.protocol.v16.core import CoreHandlers


class ChargePoint16(CoreHandlers, LibraryChargePoint):
    """The CSMS side of one 1.6J connection; ``self.station`` is the authenticated Station."""

    def __init__(self, station, connection, **kwargs):
        super().__init__(station.ocpp_id, connection, **kwargs)
        self.station = station
