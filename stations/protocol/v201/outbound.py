"""OCPP 2.0.1 wire format of the CSMS's commands: each verb of ``stations.protocol.outbound`` as a 2.0.1 call,
and the station's answers read back. Connectors of the neutral verbs are 2.0.1 EVSEs (one connector each)."""

import secrets

from django.db.models import Q

from stations.protocol.outbound_interface import Answer, OutboundCall, Outcome, status_answer

# IdToken.idToken is identifierString 36.
ID_TOKEN_MAX_LENGTH = 36
# The typed API endpoints take 1.6's fields; a 2.0.1 station takes its action through the generic call.
TYPED_ENDPOINTS = False
DEVICE_MODEL = (
    "An OCPP 2.0.1 station keeps its configuration in its device model: use GetVariables or SetVariables "
    "(API: POST /api/stations/<id>/calls/)."
)
UNSUPPORTED: dict[str, str] = {
    "configuration_read": DEVICE_MODEL,
    "configuration_write": DEVICE_MODEL,
}
# The LocalAuthListCtrlr variables a local-list sync reads, by the 1.6 configuration key they stand for
# (Available, whether the station has a local list at all, stands for the LocalAuthListManagement profile).
LOCAL_LIST_CONTROLLER = "LocalAuthListCtrlr"
LOCAL_LIST_VARIABLES = {
    "Enabled": "LocalAuthListEnabled",
    "ItemsPerMessage": "SendLocalListMaxLength",
    "Available": "SupportedFeatureProfiles",
}
LOCAL_LIST_PROFILE = "LocalAuthListManagement"
# The 2.0.1 name of a message to trigger, where it differs from 1.6's.
TRIGGER_NAMES = {"DiagnosticsStatusNotification": "LogStatusNotification"}


def _present(**fields) -> dict:
    return {name: value for name, value in fields.items() if value is not None}


def _evse(connector_id) -> dict:
    return {"evse": {"id": connector_id}} if connector_id else {}


def remote_start(*, id_token, id_token_type, connector_id, charging_profile) -> OutboundCall:
    """The remoteStartId (positive int32) is how the station's TransactionEvent names this start."""
    return OutboundCall(
        "RequestStartTransaction",
        {
            "idToken": {"idToken": id_token, "type": id_token_type},
            **_present(evseId=connector_id, chargingProfile=charging_profile),
            "remoteStartId": secrets.randbelow(2**31 - 1) + 1,
        },
    )


def remote_stop(*, transaction_id) -> OutboundCall:
    return OutboundCall("RequestStopTransaction", {"transactionId": transaction_id})


def station_transaction_id(session) -> str:
    """2.0.1 stations name their transactions themselves."""
    return session.ocpp_transaction_id or ""


def reset(*, hard) -> OutboundCall:
    return OutboundCall("Reset", {"type": "Immediate" if hard else "OnIdle"})


def unlock(*, connector_id) -> OutboundCall:
    return OutboundCall("UnlockConnector", {"evseId": connector_id, "connectorId": 1})


def change_availability(*, operative, connector_id) -> OutboundCall:
    return OutboundCall(
        "ChangeAvailability", {"operationalStatus": "Operative" if operative else "Inoperative", **_evse(connector_id)}
    )


def trigger_message(*, message, connector_id) -> OutboundCall:
    return OutboundCall(
        "TriggerMessage", {"requestedMessage": TRIGGER_NAMES.get(message, message), **_evse(connector_id)}
    )


def clear_cache() -> OutboundCall:
    return OutboundCall("ClearCache", {})


def diagnostics_upload(*, location, request_id, start_time, stop_time, retries, retry_interval) -> OutboundCall:
    log = {
        "remoteLocation": location,
        **_present(oldestTimestamp=start_time or None, latestTimestamp=stop_time or None),
    }
    return OutboundCall(
        "GetLog",
        {
            "logType": "DiagnosticsLog",
            "requestId": request_id,
            "log": log,
            **_present(retries=retries, retryInterval=retry_interval),
        },
    )


def firmware_update(*, location, retrieve_date, request_id, retries, retry_interval) -> OutboundCall:
    return OutboundCall(
        "UpdateFirmware",
        {
            "requestId": request_id,
            "firmware": {"location": location, "retrieveDateTime": retrieve_date},
            **_present(retries=retries, retryInterval=retry_interval),
        },
    )


def local_list_version() -> OutboundCall:
    return OutboundCall("GetLocalListVersion", {})


def local_list_settings_read() -> OutboundCall:
    return OutboundCall(
        "GetVariables",
        {
            "getVariableData": [
                {"component": {"name": LOCAL_LIST_CONTROLLER}, "variable": {"name": name}}
                for name in LOCAL_LIST_VARIABLES
            ]
        },
    )


def local_list_send(*, version, full, entries) -> OutboundCall:
    payload = {"versionNumber": version, "updateType": "Full" if full else "Differential"}
    if entries:
        payload["localAuthorizationList"] = [_authorization_data(entry) for entry in entries]
    return OutboundCall("SendLocalList", payload)


def _authorization_data(entry) -> dict:
    info = {"status": entry.status}
    if entry.expires_at is not None:
        info["cacheExpiryDateTime"] = entry.expires_at.isoformat()
    if entry.parent_id:
        info["groupIdToken"] = {"idToken": entry.parent_id, "type": "Central"}
    return {"idToken": {"idToken": entry.token, "type": entry.type}, "idTokenInfo": info}


def _local_list_settings(results: list) -> list[dict]:
    """GetVariables results of LocalAuthListCtrlr as 1.6 configuration keys; a station without the component
    (UnknownComponent) keeps no local list."""
    keys = []
    for result in results:
        if result.get("component", {}).get("name") != LOCAL_LIST_CONTROLLER:
            continue
        key = LOCAL_LIST_VARIABLES.get(result.get("variable", {}).get("name"))
        status = result.get("attributeStatus")
        if key == "SupportedFeatureProfiles" and status in ("Accepted", "UnknownComponent"):
            available = status == "Accepted" and str(result.get("attributeValue")).lower() == "true"
            keys.append({"key": key, "value": LOCAL_LIST_PROFILE if available else "", "readonly": True})
        elif key is not None and status == "Accepted":
            keys.append({"key": key, "value": result.get("attributeValue"), "readonly": False})
    return keys


def charging_profile_set(*, connector_id, profile) -> OutboundCall:
    return OutboundCall("SetChargingProfile", {"evseId": connector_id, "chargingProfile": profile})


def charging_profile_clear(*, profile_id, connector_id, purpose, stack_level) -> OutboundCall:
    criteria = _present(evseId=connector_id, chargingProfilePurpose=purpose, stackLevel=stack_level)
    return OutboundCall(
        "ClearChargingProfile", _present(chargingProfileId=profile_id, chargingProfileCriteria=criteria or None)
    )


def composite_schedule(*, connector_id, duration, rate_unit) -> OutboundCall:
    return OutboundCall(
        "GetCompositeSchedule", {"evseId": connector_id, "duration": duration, **_present(chargingRateUnit=rate_unit)}
    )


def charging_profiles_report(*, request_id, evse_id, purpose, stack_level) -> OutboundCall:
    criterion = _present(chargingProfilePurpose=purpose, stackLevel=stack_level)
    return OutboundCall(
        "GetChargingProfiles", {"requestId": request_id, **_present(evseId=evse_id), "chargingProfile": criterion}
    )


def reserve(*, reservation_id, connector_id, expires_at, id_token, id_token_type, parent_id) -> OutboundCall:
    return OutboundCall(
        "ReserveNow",
        {
            "id": reservation_id,
            "expiryDateTime": expires_at.isoformat(),
            "idToken": {"idToken": id_token, "type": id_token_type},
            **_present(
                evseId=connector_id or None,
                groupIdToken={"idToken": parent_id, "type": "Central"} if parent_id else None,
            ),
        },
    )


def reservation_cancel(*, reservation_id) -> OutboundCall:
    return OutboundCall("CancelReservation", {"reservationId": reservation_id})


def data_transfer(*, vendor_id, message_id, data) -> OutboundCall:
    return OutboundCall("DataTransfer", {"vendorId": vendor_id, **_present(messageId=message_id, data=data)})


def interpret(action: str, response: dict) -> Answer:
    if action == "GetLog":
        return status_answer(response, file_name=response.get("filename") or None)
    if action == "GetLocalListVersion":
        return Answer(Outcome.ACCEPTED, data={"version": response["versionNumber"]})
    if action == "GetVariables":
        return Answer(Outcome.ACCEPTED, data={"keys": _local_list_settings(response.get("getVariableResult") or [])})
    if action == "GetCompositeSchedule":
        return status_answer(response, schedule=response.get("schedule"))
    if action == "GetChargingProfiles" and response.get("status") == "NoProfiles":
        return Answer(Outcome.NOTHING_TO_DO, "NoProfiles")
    if action == "DataTransfer":
        return status_answer(response, data=response.get("data"))
    return status_answer(response)


def started_session(action: str, payload: dict) -> dict | None:
    """The filter of the session a remote start led to: its TransactionEvent carries our remoteStartId."""
    return {"remote_start_id": payload["remoteStartId"]} if action == "RequestStartTransaction" else None


def stopped_session(action: str, payload: dict) -> dict | None:
    """The filter of the session a remote stop names (by the station's own transaction id)."""
    return {"ocpp_transaction_id": payload.get("transactionId")} if action == "RequestStopTransaction" else None


def remote_starts_at(connector_id: int) -> Q:
    """The remote-start commands aimed at this connector (its EVSE)."""
    return Q(action="RequestStartTransaction", payload__evseId=connector_id)
