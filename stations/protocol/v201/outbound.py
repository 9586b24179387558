"""OCPP 2.0.1 wire format of the CSMS's commands: each verb of ``stations.protocol.outbound`` as a 2.0.1 call,
and the station's answers read back. Connectors of the neutral verbs are 2.0.1 EVSEs (one connector each)."""

import secrets

from django.db.models import Q

from stations.protocol.outbound_interface import Answer, OutboundCall, Outcome, status_answer

# IdToken.idToken is identifierString 36.
ID_TOKEN_MAX_LENGTH = 36
DEVICE_MODEL = (
    "An OCPP 2.0.1 station keeps its configuration in its device model: use GetVariables or SetVariables "
    "(API: /api/stations/<id>/variables/)."
)
UNSUPPORTED: dict[str, str] = {
    "configuration_read": DEVICE_MODEL,
    "configuration_write": DEVICE_MODEL,
}
# SecurityCtrlr.BasicAuthPassword: a passwordString of 16 to 40 characters (Part 2 A00.FR.205), sent as it is.
PASSWORD_MAX_LENGTH = 40
# A 2.0.1 station with smart charging takes TxProfiles (K01): a refusal is not worked around.
TX_DEFAULT_FALLBACK = False
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
# Answers meaning "accepted, nothing there": no report will follow.
NOTHING_FOUND = {"GetMonitoringReport": ("EmptyResultSet",), "GetDisplayMessages": ("Unknown",)}


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


def reset(*, hard, evse_id=None) -> OutboundCall:
    return OutboundCall("Reset", {"type": "Immediate" if hard else "OnIdle", **_present(evseId=evse_id)})


def transaction_status(*, transaction_id) -> OutboundCall:
    return OutboundCall("GetTransactionStatus", _present(transactionId=transaction_id))


def cost_updated(*, total_cost, transaction_id) -> OutboundCall:
    """totalCost is a JSON number: the amount, rounded to its currency already, as a float."""
    return OutboundCall("CostUpdated", {"totalCost": float(total_cost), "transactionId": transaction_id})


def unlock(*, connector_id, evse_id=None) -> OutboundCall:
    """Without ``evse_id``, ``connector_id`` names the EVSE (its connector 1)."""
    if evse_id is None:
        return OutboundCall("UnlockConnector", {"evseId": connector_id, "connectorId": 1})
    return OutboundCall("UnlockConnector", {"evseId": evse_id, "connectorId": connector_id})


def change_availability(*, operative, connector_id, evse_id=None) -> OutboundCall:
    """Without ``evse_id``, ``connector_id`` names the EVSE (0: the station)."""
    if evse_id is None:
        evse = _evse(connector_id)
    else:
        evse = {"evse": {"id": evse_id, **_present(connectorId=connector_id or None)}}
    status = "Operative" if operative else "Inoperative"
    return OutboundCall("ChangeAvailability", {"operationalStatus": status, **evse})


def trigger_message(*, message, connector_id) -> OutboundCall:
    return OutboundCall(
        "TriggerMessage", {"requestedMessage": TRIGGER_NAMES.get(message, message), **_evse(connector_id)}
    )


def password_set(*, password) -> OutboundCall:
    return OutboundCall(
        "SetVariables",
        {
            "setVariableData": [
                {
                    "attributeType": "Actual",
                    "attributeValue": password,
                    "component": {"name": "SecurityCtrlr"},
                    "variable": {"name": "BasicAuthPassword"},
                }
            ]
        },
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


def signed_firmware_update(
    *, location, retrieve_date, request_id, signing_certificate, signature, retries, retry_interval
) -> OutboundCall:
    call = firmware_update(
        location=location,
        retrieve_date=retrieve_date,
        request_id=request_id,
        retries=retries,
        retry_interval=retry_interval,
    )
    call.payload["firmware"].update(signingCertificate=signing_certificate, signature=signature)
    return call


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


def current_limit_profile(*, profile_id, purpose, stack_level, starts_at, periods, transaction_id) -> dict:
    return {
        "id": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        **_present(transactionId=None if transaction_id is None else str(transaction_id)),
        "chargingSchedule": [
            {
                "id": profile_id,
                "startSchedule": starts_at.isoformat(),
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": start, "limit": amps, "numberPhases": phases} for start, amps, phases in periods
                ],
            }
        ],
    }


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


def _request_id() -> int:
    """The requestId that names the report parts answering a request (positive int32)."""
    return secrets.randbelow(2**31 - 1) + 1


def _component(name, instance, evse_id, connector_id) -> dict:
    evse = _present(id=evse_id, connectorId=connector_id) if evse_id is not None else None
    return _present(name=name, instance=instance or None, evse=evse)


def monitor_set(
    *,
    component,
    variable,
    type,
    value,
    severity,
    evse_id,
    connector_id,
    component_instance,
    variable_instance,
    transaction,
    monitor_id,
) -> OutboundCall:
    monitor = {
        **_present(id=monitor_id),
        "transaction": bool(transaction),
        "value": float(value),
        "type": type,
        "severity": severity,
        "component": _component(component, component_instance, evse_id, connector_id),
        "variable": _present(name=variable, instance=variable_instance or None),
    }
    return OutboundCall("SetVariableMonitoring", {"setMonitoringData": [monitor]})


def monitors_clear(*, monitor_ids) -> OutboundCall:
    return OutboundCall("ClearVariableMonitoring", {"id": monitor_ids})


def monitoring_base_set(*, base) -> OutboundCall:
    return OutboundCall("SetMonitoringBase", {"monitoringBase": base})


def monitoring_level_set(*, severity) -> OutboundCall:
    return OutboundCall("SetMonitoringLevel", {"severity": severity})


def monitoring_report(*, criteria) -> OutboundCall:
    return OutboundCall(
        "GetMonitoringReport", {"requestId": _request_id(), **_present(monitoringCriteria=criteria or None)}
    )


def display_message_set(
    *, message_id, priority, content, format, language, state, starts_at, ends_at, transaction_id
) -> OutboundCall:
    message = {
        "id": message_id,
        "priority": priority,
        "message": {"format": format, "content": content, **_present(language=language or None)},
        **_present(
            state=state or None,
            startDateTime=starts_at.isoformat() if starts_at else None,
            endDateTime=ends_at.isoformat() if ends_at else None,
            transactionId=transaction_id or None,
        ),
    }
    return OutboundCall("SetDisplayMessage", {"message": message})


def display_messages_get(*, message_ids, priority, state) -> OutboundCall:
    return OutboundCall(
        "GetDisplayMessages",
        {"requestId": _request_id(), **_present(id=message_ids or None, priority=priority, state=state)},
    )


def display_message_clear(*, message_id) -> OutboundCall:
    return OutboundCall("ClearDisplayMessage", {"id": message_id})


def customer_information(
    *, report, clear, id_token, id_token_type, customer_identifier, customer_certificate
) -> OutboundCall:
    return OutboundCall(
        "CustomerInformation",
        {
            "requestId": _request_id(),
            "report": report,
            "clear": clear,
            **_present(
                idToken={"idToken": id_token, "type": id_token_type} if id_token else None,
                customerIdentifier=customer_identifier or None,
                customerCertificate=customer_certificate or None,
            ),
        },
    )


def _component_variable(ref) -> dict:
    """A ``device_model.VariableRef`` as ComponentType and VariableType."""
    return {
        "component": _component(ref.component, ref.component_instance, ref.evse_id, ref.connector_id),
        "variable": {"name": ref.variable, **_present(instance=ref.variable_instance or None)},
    }


def variables_get(*, variables) -> OutboundCall:
    return OutboundCall(
        "GetVariables",
        {
            "getVariableData": [
                {**_component_variable(ref), **_present(attributeType=ref.attribute_type or None)} for ref in variables
            ]
        },
    )


def variables_set(*, variables) -> OutboundCall:
    """``variables``: (``VariableRef``, value) pairs."""
    return OutboundCall(
        "SetVariables",
        {
            "setVariableData": [
                {
                    **_component_variable(ref),
                    "attributeValue": value,
                    **_present(attributeType=ref.attribute_type or None),
                }
                for ref, value in variables
            ]
        },
    )


def report(*, request_id, base, criteria, variables) -> OutboundCall:
    """GetReport when criteria or variables narrow it, else GetBaseReport of ``base``."""
    if criteria or variables:
        return OutboundCall(
            "GetReport",
            {
                "requestId": request_id,
                **_present(
                    componentCriteria=list(criteria) or None,
                    componentVariable=[_component_variable(ref) for ref in variables] or None,
                ),
            },
        )
    return OutboundCall("GetBaseReport", {"requestId": request_id, "reportBase": base})


def network_profile_set(*, slot, connection_data) -> OutboundCall:
    return OutboundCall("SetNetworkProfile", {"configurationSlot": slot, "connectionData": connection_data})


def _variable_results(results: list) -> list[dict]:
    """GetVariableResult / SetVariableResult under neutral names."""
    found = []
    for result in results:
        component, variable = result["component"], result["variable"]
        evse = component.get("evse") or {}
        info = result.get("attributeStatusInfo") or {}
        found.append(
            {
                "component": component["name"],
                "component_instance": component.get("instance", ""),
                "evse_id": evse.get("id"),
                "connector_id": evse.get("connectorId"),
                "variable": variable["name"],
                "variable_instance": variable.get("instance", ""),
                "attribute_type": result.get("attributeType") or "Actual",
                "status": result["attributeStatus"],
                "value": result.get("attributeValue"),
                "reason": " ".join(filter(None, [info.get("reasonCode"), info.get("additionalInfo")])),
            }
        )
    return found


def _each_status(results: list) -> Answer:
    """An answer of one status per item (SetVariableMonitoring, ClearVariableMonitoring): as its items', if alike."""
    statuses = {str(result.get("status") or "") for result in results}
    if len(statuses) != 1:
        return Answer(Outcome.REJECTED, "Mixed" if statuses else "", {"results": results})
    return status_answer({"status": statuses.pop()}, results=results)


def interpret(action: str, response: dict) -> Answer:
    if action == "GetVariables":
        results = response.get("getVariableResult") or []
        # ``keys``: what a local-list sync reads (``local_list_settings_read``), under the 1.6 keys' names.
        return Answer(
            Outcome.ACCEPTED, data={"results": _variable_results(results), "keys": _local_list_settings(results)}
        )
    if action == "SetVariables":
        return _set_variables_answer(response)
    if action == "GetLog":
        return status_answer(response, file_name=response.get("filename") or None)
    if action == "GetLocalListVersion":
        return Answer(Outcome.ACCEPTED, data={"version": response["versionNumber"]})
    if action == "GetCompositeSchedule":
        return status_answer(response, schedule=response.get("schedule"))
    if action == "GetChargingProfiles" and response.get("status") == "NoProfiles":
        return Answer(Outcome.NOTHING_TO_DO, "NoProfiles")
    if action == "DataTransfer":
        return status_answer(response, data=response.get("data"))
    if action == "GetTransactionStatus":
        data = {"ongoing_indicator": response.get("ongoingIndicator"), "messages_in_queue": response["messagesInQueue"]}
        return Answer(Outcome.ACCEPTED, data=data)
    if action == "CostUpdated":
        return Answer(Outcome.ACCEPTED)  # CostUpdatedResponse has no fields: an answer at all is the acceptance
    if action == "SetVariableMonitoring":
        return _each_status(response.get("setMonitoringResult") or [])
    if action == "ClearVariableMonitoring":
        return _each_status(response.get("clearMonitoringResult") or [])
    if response.get("status") in NOTHING_FOUND.get(action, ()):
        return Answer(Outcome.NOTHING_TO_DO, response["status"])
    if action == "GetInstalledCertificateIds":
        if response.get("status") == "NotFound":
            return Answer(Outcome.NOTHING_TO_DO, "NotFound", data={"certificates": []})
        return status_answer(response, certificates=_installed_certificates(response))
    if action == "DeleteCertificate" and response.get("status") == "NotFound":
        return Answer(Outcome.NOTHING_TO_DO, "NotFound")
    return status_answer(response)


def _set_variables_answer(response: dict) -> Answer:
    """One outcome for all the variables set: the first refusal, else RebootRequired if any asks for it; each
    variable's own in ``results``."""
    results = _variable_results(response.get("setVariableResult") or [])
    statuses = [result["status"] for result in results]
    refused = [status for status in statuses if status not in ("Accepted", "RebootRequired")]
    status = (refused or [s for s in statuses if s == "RebootRequired"] or statuses or ["Rejected"])[0]
    return status_answer({"status": status}, results=results)


def started_session(action: str, payload: dict) -> dict | None:
    """The filter of the session a remote start led to: its TransactionEvent carries our remoteStartId."""
    return {"remote_start_id": payload["remoteStartId"]} if action == "RequestStartTransaction" else None


def stopped_session(action: str, payload: dict) -> dict | None:
    """The filter of the session a remote stop names (by the station's own transaction id)."""
    return {"ocpp_transaction_id": payload.get("transactionId")} if action == "RequestStopTransaction" else None


def remote_starts_at(connector_id: int) -> Q:
    """The remote-start commands aimed at this connector (its EVSE)."""
    return Q(action="RequestStartTransaction", payload__evseId=connector_id)


def certificate_signed(*, certificate_chain, certificate_type) -> OutboundCall:
    return OutboundCall(
        "CertificateSigned", {"certificateChain": certificate_chain, "certificateType": certificate_type}
    )


def certificate_install(*, certificate_type, certificate) -> OutboundCall:
    return OutboundCall("InstallCertificate", {"certificateType": certificate_type, "certificate": certificate})


def certificate_delete(*, hash_data) -> OutboundCall:
    return OutboundCall("DeleteCertificate", {"certificateHashData": hash_data})


def installed_certificate_ids(*, certificate_type) -> OutboundCall:
    return OutboundCall(
        "GetInstalledCertificateIds", {"certificateType": [certificate_type]} if certificate_type else {}
    )


# The message a station is triggered to send for a new certificate of each type.
RENEWAL_TRIGGERS = {
    "ChargingStationCertificate": "SignChargingStationCertificate",
    "V2GCertificate": "SignV2GCertificate",
}


def certificate_renewal(*, certificate_type) -> OutboundCall:
    return OutboundCall("TriggerMessage", {"requestedMessage": RENEWAL_TRIGGERS[certificate_type]})


def _hash_fields(data: dict) -> dict:
    return {
        "hash_algorithm": data["hashAlgorithm"],
        "issuer_name_hash": data["issuerNameHash"],
        "issuer_key_hash": data["issuerKeyHash"],
        "serial_number": data["serialNumber"],
    }


def _installed_certificates(response: dict) -> list[dict]:
    return [
        {
            "certificate_type": entry["certificateType"],
            **_hash_fields(entry["certificateHashData"]),
            "children": [_hash_fields(child) for child in entry.get("childCertificateHashData") or []],
        }
        for entry in response.get("certificateHashDataChain") or []
    ]
