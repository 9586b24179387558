"""How a 2.0.1 station's EVSEs are stored: each EVSE is a ``stations.Connector`` whose ``connector_id`` is the
evseId (the unit that holds one transaction, as 1.6's connectorId does); evseId 0 is the station itself.

The services check ids against the station's EVSEs (its device model, see ``stations.plausibility``) and
say "connector"; a 2.0.1 station is told about its evseId.
"""

import contextlib

from ocpp.exceptions import PropertyConstraintViolationError

from stations.protocol.framing import MAX_DESCRIPTION, property_violation


@contextlib.contextmanager
def evse_violation(evse_id: int):
    """``property_violation`` for a message naming ``evse_id``: an unknown EVSE is reported as /evseId."""
    try:
        with property_violation():
            yield
    except PropertyConstraintViolationError as error:
        if (error.details or {}).get("path") != "/connectorId":
            raise
        message = f"/evseId: EVSE {evse_id} is not one of this station's."[:MAX_DESCRIPTION]
        raise PropertyConstraintViolationError(message, details={"path": "/evseId"}) from None
