"""OCPP 1.6 wire format of the CSMS's commands: each verb of ``stations.protocol.outbound`` as a 1.6 call,
and the station's answers read back. Payloads are checked against the official schema when sent."""

from django.db.models import Q

from stations.protocol.outbound_interface import Answer, OutboundCall, Outcome, Unsupported, status_answer

# idTag and parentIdTag are CiString20.
ID_TOKEN_MAX_LENGTH = 20
# OCPP 2.0.1 functional blocks N and O have no 1.6 counterpart.
NOT_IN_16 = "{} are not in OCPP 1.6: the station must speak OCPP 2.0.1."
DEVICE_MODEL_ONLY = (
    "An OCPP 1.6 station has configuration keys, not a device model: use GetConfiguration or ChangeConfiguration."
)
UNSUPPORTED: dict[str, str] = {
    "variables_get": DEVICE_MODEL_ONLY,
    "variables_set": DEVICE_MODEL_ONLY,
    "network_profile_set": "OCPP 1.6 has no network profiles (SetNetworkProfile is OCPP 2.0.1).",
    "transaction_status": "OCPP 1.6 has no GetTransactionStatus: a 1.6 station's sessions show in its "
    "StatusNotification and StopTransaction.",
    "cost_updated": "OCPP 1.6 has no CostUpdated: a 1.6 station cannot show the running cost.",
    **dict.fromkeys(
        ("monitor_set", "monitors_clear", "monitoring_base_set", "monitoring_level_set", "monitoring_report"),
        NOT_IN_16.format("Variable monitors"),
    ),
    **dict.fromkeys(
        ("display_message_set", "display_messages_get", "display_message_clear"), NOT_IN_16.format("Display messages")
    ),
    "customer_information": NOT_IN_16.format("Customer information requests"),
    "charging_profiles_report": "An OCPP 1.6 station cannot report its charging profiles: use GetCompositeSchedule.",
}
WHOLE_STATION = "OCPP 1.6 {} a whole station or a connector, not an EVSE: leave evse_id out."
# The security whitepaper's AuthorizationKey: 16 to 20 bytes, sent as hexadecimal; the station's Basic-auth password
# is the decoded bytes, so ASCII passwords of up to 20 characters arrive as themselves.
PASSWORD_MAX_LENGTH = 20
# Many 1.6 charge points implement TxDefaultProfile only: a session's limit can go as its connector's default.
TX_DEFAULT_FALLBACK = True


def _present(**fields) -> dict:
    return {name: value for name, value in fields.items() if value is not None}


def remote_start(*, id_token, id_token_type, connector_id, charging_profile) -> OutboundCall:
    return OutboundCall(
        "RemoteStartTransaction",
        {"idTag": id_token, **_present(connectorId=connector_id, chargingProfile=charging_profile)},
    )


def remote_stop(*, transaction_id) -> OutboundCall:
    return OutboundCall("RemoteStopTransaction", {"transactionId": transaction_id})


def station_transaction_id(session) -> int:
    """1.6 stations know a session by the integer we gave it in StartTransaction: our key."""
    return session.pk


def _no_evse(evse_id, verb: str) -> None:
    if evse_id is not None:
        raise Unsupported(WHOLE_STATION.format(verb))


def reset(*, hard, evse_id=None) -> OutboundCall:
    _no_evse(evse_id, "resets")
    return OutboundCall("Reset", {"type": "Hard" if hard else "Soft"})


def unlock(*, connector_id, evse_id=None) -> OutboundCall:
    _no_evse(evse_id, "unlocks")
    return OutboundCall("UnlockConnector", {"connectorId": connector_id})


def change_availability(*, operative, connector_id, evse_id=None) -> OutboundCall:
    _no_evse(evse_id, "changes the availability of")
    return OutboundCall(
        "ChangeAvailability", {"connectorId": connector_id, "type": "Operative" if operative else "Inoperative"}
    )


def trigger_message(*, message, connector_id) -> OutboundCall:
    return OutboundCall("TriggerMessage", {"requestedMessage": message, **_present(connectorId=connector_id or None)})


def configuration_read(*, keys) -> OutboundCall:
    return OutboundCall("GetConfiguration", {"key": list(keys)} if keys else {})


def configuration_write(*, key, value) -> OutboundCall:
    return OutboundCall("ChangeConfiguration", {"key": key, "value": value})


def report(*, request_id, base, criteria, variables) -> OutboundCall:
    """1.6 reports its whole configuration, whatever the report asked for."""
    if criteria or variables:
        raise Unsupported("OCPP 1.6 reports its whole configuration: leave criteria and variables out.")
    return OutboundCall("GetConfiguration", {})


def password_set(*, password) -> OutboundCall:
    return OutboundCall("ChangeConfiguration", {"key": "AuthorizationKey", "value": password.encode().hex()})


def clear_cache() -> OutboundCall:
    return OutboundCall("ClearCache", {})


def diagnostics_upload(*, location, request_id, start_time, stop_time, retries, retry_interval) -> OutboundCall:
    return OutboundCall(
        "GetDiagnostics",
        {
            "location": location,
            **_present(retries=retries, retryInterval=retry_interval),
            **_present(startTime=start_time or None, stopTime=stop_time or None),
        },
    )


def firmware_update(*, location, retrieve_date, request_id, retries, retry_interval) -> OutboundCall:
    return OutboundCall(
        "UpdateFirmware",
        {
            "location": location,
            "retrieveDate": retrieve_date,
            **_present(retries=retries, retryInterval=retry_interval),
        },
    )


def signed_firmware_update(
    *, location, retrieve_date, request_id, signing_certificate, signature, retries, retry_interval
) -> OutboundCall:
    """The security extension's SignedUpdateFirmware (a station without it answers NotImplemented)."""
    return OutboundCall(
        "SignedUpdateFirmware",
        {
            "requestId": request_id,
            "firmware": {
                "location": location,
                "retrieveDateTime": retrieve_date,
                "signingCertificate": signing_certificate,
                "signature": signature,
            },
            **_present(retries=retries, retryInterval=retry_interval),
        },
    )


def local_list_version() -> OutboundCall:
    return OutboundCall("GetLocalListVersion", {})


def local_list_settings_read() -> OutboundCall:
    return configuration_read(
        keys=["LocalAuthListEnabled", "LocalAuthListMaxLength", "SendLocalListMaxLength", "SupportedFeatureProfiles"]
    )


def local_list_send(*, version, full, entries) -> OutboundCall:
    payload = {"listVersion": version, "updateType": "Full" if full else "Differential"}
    if entries:
        payload["localAuthorizationList"] = [_authorization_data(entry) for entry in entries]
    return OutboundCall("SendLocalList", payload)


def _authorization_data(entry) -> dict:
    info = {"status": entry.status}
    if entry.expires_at is not None:
        info["expiryDate"] = entry.expires_at.isoformat()
    if entry.parent_id and len(entry.parent_id) <= ID_TOKEN_MAX_LENGTH:
        info["parentIdTag"] = entry.parent_id
    return {"idTag": entry.token, "idTagInfo": info}


def charging_profile_set(*, connector_id, profile) -> OutboundCall:
    return OutboundCall("SetChargingProfile", {"connectorId": connector_id, "csChargingProfiles": profile})


def charging_profile_clear(*, profile_id, connector_id, purpose, stack_level) -> OutboundCall:
    return OutboundCall(
        "ClearChargingProfile",
        _present(id=profile_id, connectorId=connector_id, chargingProfilePurpose=purpose, stackLevel=stack_level),
    )


def composite_schedule(*, connector_id, duration, rate_unit) -> OutboundCall:
    return OutboundCall(
        "GetCompositeSchedule",
        {"connectorId": connector_id, "duration": duration, **_present(chargingRateUnit=rate_unit)},
    )


def current_limit_profile(*, profile_id, purpose, stack_level, starts_at, periods, transaction_id) -> dict:
    return {
        "chargingProfileId": profile_id,
        **_present(transactionId=transaction_id),
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "startSchedule": starts_at.isoformat(),
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [
                {"startPeriod": start, "limit": amps, "numberPhases": phases} for start, amps, phases in periods
            ],
        },
    }


def reserve(*, reservation_id, connector_id, expires_at, id_token, id_token_type, parent_id) -> OutboundCall:
    return OutboundCall(
        "ReserveNow",
        {
            "reservationId": reservation_id,
            "connectorId": connector_id or 0,
            "expiryDate": expires_at.isoformat(),
            "idTag": id_token,
            **_present(parentIdTag=parent_id),
        },
    )


def reservation_cancel(*, reservation_id) -> OutboundCall:
    return OutboundCall("CancelReservation", {"reservationId": reservation_id})


def data_transfer(*, vendor_id, message_id, data) -> OutboundCall:
    return OutboundCall("DataTransfer", {"vendorId": vendor_id, **_present(messageId=message_id, data=data)})


def interpret(action: str, response: dict) -> Answer:
    if action == "GetConfiguration":
        return Answer(
            Outcome.ACCEPTED,
            data={"keys": response.get("configurationKey") or [], "unknown": response.get("unknownKey") or []},
        )
    if action == "GetDiagnostics":
        file_name = response.get("fileName") or None
        return Answer(Outcome.ACCEPTED if file_name else Outcome.NOTHING_TO_DO, data={"file_name": file_name})
    if action == "UpdateFirmware":
        return Answer(Outcome.ACCEPTED)  # an empty answer: the station has taken note
    if action == "GetLocalListVersion":
        return Answer(Outcome.ACCEPTED, data={"version": response["listVersion"]})
    if action == "GetCompositeSchedule":
        return status_answer(response, schedule=response.get("chargingSchedule"))
    if action == "DataTransfer":
        return status_answer(response, data=response.get("data"))
    if action == "GetInstalledCertificateIds":
        if response.get("status") == "NotFound":
            return Answer(Outcome.NOTHING_TO_DO, "NotFound", data={"certificates": []})
        return status_answer(response, certificates=_installed_certificates(response))
    if action == "DeleteCertificate" and response.get("status") == "NotFound":
        return Answer(Outcome.NOTHING_TO_DO, "NotFound")
    return status_answer(response)


def started_session(action: str, payload: dict) -> dict | None:
    """The filter of the sessions a remote start may have led to: same idTag, same connector when named."""
    if action != "RemoteStartTransaction":
        return None
    lookup = {"id_tag__iexact": payload["idTag"]}
    if payload.get("connectorId"):
        lookup["connector_id"] = payload["connectorId"]
    return lookup


def stopped_session(action: str, payload: dict) -> dict | None:
    """The filter of the session a remote stop names (by our key, which the station was given)."""
    return {"pk": payload.get("transactionId")} if action == "RemoteStopTransaction" else None


def remote_starts_at(connector_id: int) -> Q:
    """The remote-start commands aimed at this connector."""
    return Q(action="RemoteStartTransaction", payload__connectorId=connector_id)


# The security extension's certificate uses, by the 2.0.1 names the neutral verbs take.
CERTIFICATE_USES = {
    "CSMSRootCertificate": "CentralSystemRootCertificate",
    "ManufacturerRootCertificate": "ManufacturerRootCertificate",
}


def _certificate_use(certificate_type: str) -> str:
    if certificate_type not in CERTIFICATE_USES:
        raise Unsupported(
            f"An OCPP 1.6 station holds only CSMS and manufacturer root certificates, not a {certificate_type}."
        )
    return CERTIFICATE_USES[certificate_type]


def certificate_signed(*, certificate_chain, certificate_type) -> OutboundCall:
    if certificate_type != "ChargingStationCertificate":
        raise Unsupported(f"OCPP 1.6 has no {certificate_type}: only the charge point's own certificate is signed.")
    return OutboundCall("CertificateSigned", {"certificateChain": certificate_chain})


def certificate_install(*, certificate_type, certificate) -> OutboundCall:
    return OutboundCall(
        "InstallCertificate", {"certificateType": _certificate_use(certificate_type), "certificate": certificate}
    )


def certificate_delete(*, hash_data) -> OutboundCall:
    return OutboundCall("DeleteCertificate", {"certificateHashData": hash_data})


def installed_certificate_ids(*, certificate_type) -> OutboundCall:
    if certificate_type is None:
        raise Unsupported("An OCPP 1.6 station lists one certificate type at a time: name it.")
    return OutboundCall("GetInstalledCertificateIds", {"certificateType": _certificate_use(certificate_type)})


def certificate_renewal(*, certificate_type) -> OutboundCall:
    if certificate_type != "ChargingStationCertificate":
        raise Unsupported(f"OCPP 1.6 has no {certificate_type}: only the charge point's own certificate is renewed.")
    return OutboundCall("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})


def _installed_certificates(response: dict) -> list[dict]:
    return [
        {
            "certificate_type": None,
            "hash_algorithm": entry["hashAlgorithm"],
            "issuer_name_hash": entry["issuerNameHash"],
            "issuer_key_hash": entry["issuerKeyHash"],
            "serial_number": entry["serialNumber"],
            "children": [],
        }
        for entry in response.get("certificateHashData") or []
    ]
