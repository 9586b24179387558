"""The OCPP versions the endpoint speaks: each one's WebSocket subprotocol, ChargePoint class and handshake rules."""

from dataclasses import dataclass

from stations.protocol.v16 import ChargePoint16
from stations.protocol.v201.charge_point import ChargePoint201


@dataclass(frozen=True)
class OcppVersion:
    subprotocol: str
    number: str  # as stored on the station (``Station.ocpp_version``)
    charge_point: type
    # The HTTP status of a handshake refused for missing, wrong or unknown credentials; None: daphne's 403.
    refused_credentials_status: int | None


# In order of preference when a station offers several (the newest first).
VERSIONS = (
    # OCPP 2.0.1 Part 2, security profiles 1 and 2 (A00.FR.207: the CSMS validates the Basic-auth user and
    # password; the profile's handshake answers a request without valid credentials "401 Unauthorized").
    OcppVersion("ocpp2.0.1", "2.0.1", ChargePoint201, refused_credentials_status=401),
    # 1.6 and its security whitepaper name no status: those handshakes keep daphne's 403.
    OcppVersion("ocpp1.6", "1.6", ChargePoint16, refused_credentials_status=None),
)
SUBPROTOCOLS = tuple(version.subprotocol for version in VERSIONS)


def version_chosen(offered: list[str]) -> OcppVersion | None:
    """The version to speak with a station that offered these subprotocols, or None when none is ours."""
    return next((version for version in VERSIONS if version.subprotocol in offered), None)
