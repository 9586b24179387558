"""Commands to a station in the CSMS's own words, whatever OCPP version it speaks.

Each verb takes the station's ``ocpp_version`` and neutral arguments and returns the ``OutboundCall``
(action and wire payload) that carries it out on that version, built by the version's module
(``v16/outbound.py``, ``v201/outbound.py``: the only code that knows the wire formats); ``answer_of``
reads the station's answer back as a neutral ``Answer``. A verb the version lacks raises ``Unsupported``
with the reason, for the caller to show. Sending is ``commands.station_call``'s job; a remote start is
linked to the session it led to by ``remote_start_session``.
"""

import asyncio
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from functools import reduce
from operator import or_
from types import ModuleType

from asgiref.sync import sync_to_async
from django.db.models import Q

from sessions.models import Transaction
from stations.models import StationCommand
from stations.protocol.outbound_interface import Answer, OutboundCall, Outcome, Unsupported
from stations.protocol.v16 import outbound as v16_wire
from stations.protocol.v201 import outbound as v201_wire

__all__ = ["Answer", "OutboundCall", "Outcome", "Unsupported"]

# Each OCPP version's wire format, by Station.ocpp_version.
VERSIONS: dict[str, ModuleType] = {"1.6": v16_wire, "2.0.1": v201_wire}
# A station that has never connected: its commands end as "offline" whatever their format.
DEFAULT_VERSION = "1.6"
# The type of the ID tokens the CSMS issues itself (2.0.1 IdTokenEnumType; 1.6 carries no type).
CSMS_TOKEN_TYPE = "Central"
# A remote start is followed by the station's StartTransaction (TransactionEvent); how often to look for it.
SESSION_POLL_INTERVAL = 0.2


def _wire(ocpp_version: str) -> ModuleType:
    module = VERSIONS.get(ocpp_version or DEFAULT_VERSION)
    if module is None:
        raise Unsupported(f"OCPP {ocpp_version} is not spoken here.")
    return module


def check(ocpp_version: str, *verbs: Callable) -> None:
    """Unsupported with the reason when the version lacks any of ``verbs`` (the functions of this module)."""
    module = _wire(ocpp_version)
    for verb in verbs:
        reason = module.UNSUPPORTED.get(verb.__name__)
        if reason:
            raise Unsupported(reason)


def _build(verb: Callable, ocpp_version: str, **arguments) -> OutboundCall:
    check(ocpp_version, verb)
    return getattr(_wire(ocpp_version), verb.__name__)(**arguments)


def id_token_max_length(ocpp_version: str) -> int:
    """The longest ID token the version carries (1.6 idTag: 20; 2.0.1 idToken: 36)."""
    return _wire(ocpp_version).ID_TOKEN_MAX_LENGTH


# Charging


def remote_start(
    ocpp_version: str,
    *,
    id_token: str,
    id_token_type: str = CSMS_TOKEN_TYPE,
    connector_id: int | None = None,
    charging_profile: dict | None = None,
) -> OutboundCall:
    """Start a session for ``id_token`` (at ``connector_id``, or where the station chooses); ``charging_profile``
    is a TxProfile in the version's own format."""
    return _build(
        remote_start,
        ocpp_version,
        id_token=id_token,
        id_token_type=id_token_type,
        connector_id=connector_id,
        charging_profile=charging_profile,
    )


def remote_stop(ocpp_version: str, *, transaction_id: int | str) -> OutboundCall:
    """Stop the session the station knows as ``transaction_id`` (see ``station_transaction_id``)."""
    return _build(remote_stop, ocpp_version, transaction_id=transaction_id)


def station_transaction_id(ocpp_version: str, session: Transaction) -> int | str:
    """The id by which a station of this version knows ``session``."""
    return _wire(ocpp_version).station_transaction_id(session)


def transaction_status(ocpp_version: str, *, transaction_id: str | None = None) -> OutboundCall:
    """Whether the station still has the session ``transaction_id`` going and messages of it queued (without one:
    whether it has any transaction messages queued); the answer's data: ``ongoing_indicator``, ``messages_in_queue``."""
    return _build(transaction_status, ocpp_version, transaction_id=transaction_id)


def cost_updated(ocpp_version: str, *, total_cost: Decimal, transaction_id: str) -> OutboundCall:
    """Show the driver what the session ``transaction_id`` costs so far (gross, in the tariff's currency)."""
    return _build(cost_updated, ocpp_version, total_cost=total_cost, transaction_id=transaction_id)


def reserve(
    ocpp_version: str,
    *,
    reservation_id: int,
    expires_at: datetime,
    id_token: str,
    id_token_type: str = CSMS_TOKEN_TYPE,
    connector_id: int | None = None,
    parent_id: str | None = None,
) -> OutboundCall:
    """Hold ``connector_id`` (any when None) for ``id_token`` (or its group ``parent_id``) until ``expires_at``."""
    return _build(
        reserve,
        ocpp_version,
        reservation_id=reservation_id,
        connector_id=connector_id,
        expires_at=expires_at,
        id_token=id_token,
        id_token_type=id_token_type,
        parent_id=parent_id,
    )


def reservation_cancel(ocpp_version: str, *, reservation_id: int) -> OutboundCall:
    return _build(reservation_cancel, ocpp_version, reservation_id=reservation_id)


# Operating the station


def reset(ocpp_version: str, *, hard: bool, evse_id: int | None = None) -> OutboundCall:
    """Restart the station (2.0.1: or one EVSE): at once (``hard``), or once its sessions have ended."""
    return _build(reset, ocpp_version, hard=hard, evse_id=evse_id)


def unlock(ocpp_version: str, *, connector_id: int, evse_id: int | None = None) -> OutboundCall:
    """With ``evse_id`` (2.0.1), ``connector_id`` is the connector within that EVSE."""
    return _build(unlock, ocpp_version, connector_id=connector_id, evse_id=evse_id)


def change_availability(
    ocpp_version: str, *, operative: bool, connector_id: int = 0, evse_id: int | None = None
) -> OutboundCall:
    """Put a connector (0: the whole station) in or out of service; with ``evse_id`` (2.0.1), that EVSE (or
    ``connector_id`` within it when not 0)."""
    return _build(change_availability, ocpp_version, operative=operative, connector_id=connector_id, evse_id=evse_id)


def trigger_message(ocpp_version: str, *, message: str, connector_id: int | None = None) -> OutboundCall:
    """Ask for a message now; ``message`` by its 1.6 name (each version maps it to its own)."""
    return _build(trigger_message, ocpp_version, message=message, connector_id=connector_id)


def configuration_read(ocpp_version: str, *, keys: Iterable[str] = ()) -> OutboundCall:
    """Read configuration keys (all of them when ``keys`` is empty); the answer's data: ``keys``, ``unknown``."""
    return _build(configuration_read, ocpp_version, keys=list(keys))


def configuration_write(ocpp_version: str, *, key: str, value: str) -> OutboundCall:
    return _build(configuration_write, ocpp_version, key=key, value=value)


# The device model (2.0.1; 1.6 has configuration keys: see stations.device_model, which speaks both)

REPORT_BASES = ("FullInventory", "ConfigurationInventory", "SummaryInventory")
REPORT_CRITERIA = ("Active", "Available", "Enabled", "Problem")


def variables_get(ocpp_version: str, *, variables: Iterable) -> OutboundCall:
    """Read ``variables`` (``device_model.VariableRef``s); the answer's data: ``results`` (neutral dicts)."""
    return _build(variables_get, ocpp_version, variables=list(variables))


def variables_set(ocpp_version: str, *, variables: Iterable) -> OutboundCall:
    """Write (``VariableRef``, value) pairs; the answer's data: ``results``, each with the station's status."""
    return _build(variables_set, ocpp_version, variables=list(variables))


def report(
    ocpp_version: str,
    *,
    request_id: int,
    base: str = "FullInventory",
    criteria: Iterable[str] = (),
    variables: Iterable = (),
) -> OutboundCall:
    """Ask for a report (2.0.1 NotifyReport parts; 1.6: GetConfiguration's answer) of ``base``, or of the
    components matching ``criteria`` / the ``variables`` named."""
    return _build(
        report, ocpp_version, request_id=request_id, base=base, criteria=list(criteria), variables=list(variables)
    )


def network_profile_set(ocpp_version: str, *, slot: int, connection_data: dict) -> OutboundCall:
    """Store a NetworkConnectionProfile (the version's own format) in configuration slot ``slot``."""
    return _build(network_profile_set, ocpp_version, slot=slot, connection_data=connection_data)


def password_set(ocpp_version: str, *, password: str) -> OutboundCall:
    """Give the station a new HTTP Basic-auth password (``password_max_length`` ASCII letters and digits at most)."""
    return _build(password_set, ocpp_version, password=password)


def password_max_length(ocpp_version: str) -> int:
    """The longest Basic-auth password the version can give a station (1.6 AuthorizationKey: 20 bytes; 2.0.1: 40)."""
    return _wire(ocpp_version).PASSWORD_MAX_LENGTH


def clear_cache(ocpp_version: str) -> OutboundCall:
    """Empty the station's authorization cache."""
    return _build(clear_cache, ocpp_version)


def data_transfer(ocpp_version: str, *, vendor_id: str, message_id: str | None = None, data=None) -> OutboundCall:
    """A vendor-specific message; the answer's data: ``data``."""
    return _build(data_transfer, ocpp_version, vendor_id=vendor_id, message_id=message_id, data=data)


# Files: diagnostics and firmware


def diagnostics_upload(
    ocpp_version: str,
    *,
    location: str,
    request_id: int,
    start_time: str | None = None,
    stop_time: str | None = None,
    retries: int | None = None,
    retry_interval: int | None = None,
) -> OutboundCall:
    """Have the station upload its diagnostics (log) to ``location``; the answer's data: ``file_name``."""
    return _build(
        diagnostics_upload,
        ocpp_version,
        location=location,
        request_id=request_id,
        start_time=start_time,
        stop_time=stop_time,
        retries=retries,
        retry_interval=retry_interval,
    )


def firmware_update(
    ocpp_version: str,
    *,
    location: str,
    retrieve_date: str,
    request_id: int,
    retries: int | None = None,
    retry_interval: int | None = None,
) -> OutboundCall:
    """Have the station download and install the firmware at ``location`` from ``retrieve_date`` on."""
    return _build(
        firmware_update,
        ocpp_version,
        location=location,
        retrieve_date=retrieve_date,
        request_id=request_id,
        retries=retries,
        retry_interval=retry_interval,
    )


def signed_firmware_update(
    ocpp_version: str,
    *,
    location: str,
    retrieve_date: str,
    request_id: int,
    signing_certificate: str,
    signature: str,
    retries: int | None = None,
    retry_interval: int | None = None,
) -> OutboundCall:
    """As ``firmware_update``, for firmware the station installs only once ``signature`` (base64, of the file's
    SHA-256) verifies with ``signing_certificate`` (PEM); 1.6 stations need the security extension for it."""
    return _build(
        signed_firmware_update,
        ocpp_version,
        location=location,
        retrieve_date=retrieve_date,
        request_id=request_id,
        signing_certificate=signing_certificate,
        signature=signature,
        retries=retries,
        retry_interval=retry_interval,
    )


# Local authorization list


def local_list_version(ocpp_version: str) -> OutboundCall:
    """Ask the version of the station's local list; the answer's data: ``version`` (-1: it keeps none)."""
    return _build(local_list_version, ocpp_version)


def local_list_settings_read(ocpp_version: str) -> OutboundCall:
    """Read what the station's local list can take; the answer's data: ``keys`` as ``configuration_read``'s, under
    the 1.6 names LocalAuthListEnabled, LocalAuthListMaxLength, SendLocalListMaxLength, SupportedFeatureProfiles
    (a 2.0.1 station's LocalAuthListCtrlr variables, translated)."""
    return _build(local_list_settings_read, ocpp_version)


def local_list_send(ocpp_version: str, *, version: int, full: bool, entries: list) -> OutboundCall:
    """Send a Full or Differential update; ``entries`` have ``token``, ``type``, ``status``, ``expires_at`` and
    ``parent_id`` (``accounts.selectors.LocalListEntry``)."""
    return _build(local_list_send, ocpp_version, version=version, full=full, entries=entries)


# Smart charging


def charging_profile_set(ocpp_version: str, *, connector_id: int, profile: dict) -> OutboundCall:
    """Install ``profile`` (a ChargingProfile in the version's own format) on a connector (0: the station)."""
    return _build(charging_profile_set, ocpp_version, connector_id=connector_id, profile=profile)


def charging_profile_clear(
    ocpp_version: str,
    *,
    profile_id: int | None = None,
    connector_id: int | None = None,
    purpose: str | None = None,
    stack_level: int | None = None,
) -> OutboundCall:
    """Remove the profiles matching every criterion given (all of them when none is)."""
    return _build(
        charging_profile_clear,
        ocpp_version,
        profile_id=profile_id,
        connector_id=connector_id,
        purpose=purpose,
        stack_level=stack_level,
    )


def tx_default_fallback(ocpp_version: str) -> bool:
    """Whether a session's limit may go as its connector's TxDefaultProfile when the station refuses TxProfiles."""
    return _wire(ocpp_version).TX_DEFAULT_FALLBACK


def composite_schedule(
    ocpp_version: str, *, connector_id: int, duration: int, rate_unit: str | None = None
) -> OutboundCall:
    """The schedule the station will follow for ``duration`` seconds; the answer's data: ``schedule``."""
    return _build(composite_schedule, ocpp_version, connector_id=connector_id, duration=duration, rate_unit=rate_unit)


def current_limit_profile(
    ocpp_version: str,
    *,
    profile_id: int,
    purpose: str,
    stack_level: int,
    starts_at: datetime,
    periods: Iterable[tuple[int, float, int]],
    transaction_id: int | str | None = None,
) -> dict:
    """A charging profile (for ``charging_profile_set``) holding a current limit in A per phase from ``starts_at``:
    ``periods`` are (seconds from ``starts_at``, amps, phases); ``purpose`` TxProfile (of ``transaction_id``, the
    station's own id: ``station_transaction_id``) or TxDefaultProfile."""
    return _wire(ocpp_version).current_limit_profile(
        profile_id=profile_id,
        purpose=purpose,
        stack_level=stack_level,
        starts_at=starts_at,
        periods=list(periods),
        transaction_id=transaction_id,
    )


# Device monitoring, display messages and customer data (OCPP 2.0.1 blocks N and O)


def monitor_set(
    ocpp_version: str,
    *,
    component: str,
    variable: str,
    type: str,
    value,
    severity: int,
    evse_id: int | None = None,
    connector_id: int | None = None,
    component_instance: str | None = None,
    variable_instance: str | None = None,
    transaction: bool = False,
    monitor_id: int | None = None,
) -> OutboundCall:
    """Set a monitor on a variable (replacing ``monitor_id``'s when given); the answer's data: ``results``."""
    return _build(
        monitor_set,
        ocpp_version,
        component=component,
        variable=variable,
        type=type,
        value=value,
        severity=severity,
        evse_id=evse_id,
        connector_id=connector_id,
        component_instance=component_instance,
        variable_instance=variable_instance,
        transaction=transaction,
        monitor_id=monitor_id,
    )


def monitors_clear(ocpp_version: str, *, monitor_ids: Iterable[int]) -> OutboundCall:
    """Remove monitors by the station's ids; the answer's data: ``results`` (each id's own status)."""
    return _build(monitors_clear, ocpp_version, monitor_ids=list(monitor_ids))


def monitoring_base_set(ocpp_version: str, *, base: str) -> OutboundCall:
    """Which monitors the station keeps active: All, FactoryDefault or HardWiredOnly."""
    return _build(monitoring_base_set, ocpp_version, base=base)


def monitoring_level_set(ocpp_version: str, *, severity: int) -> OutboundCall:
    """Report only events of monitors at least this severe (0 Danger .. 9 Debug)."""
    return _build(monitoring_level_set, ocpp_version, severity=severity)


def monitoring_report(ocpp_version: str, *, criteria: Iterable[str] = ()) -> OutboundCall:
    """Ask for the station's monitors (those of the ``criteria`` kinds, all when empty), sent as a report."""
    return _build(monitoring_report, ocpp_version, criteria=list(criteria))


def display_message_set(
    ocpp_version: str,
    *,
    message_id: int,
    priority: str,
    content: str,
    format: str = "UTF8",
    language: str | None = None,
    state: str | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    transaction_id: str | None = None,
) -> OutboundCall:
    """Show a message on the station's display (replacing the one with ``message_id``)."""
    return _build(
        display_message_set,
        ocpp_version,
        message_id=message_id,
        priority=priority,
        content=content,
        format=format,
        language=language,
        state=state,
        starts_at=starts_at,
        ends_at=ends_at,
        transaction_id=transaction_id,
    )


def display_messages_get(
    ocpp_version: str, *, message_ids: Iterable[int] = (), priority: str | None = None, state: str | None = None
) -> OutboundCall:
    """Ask for the station's display messages (those matching every filter given), sent as a report."""
    return _build(display_messages_get, ocpp_version, message_ids=list(message_ids), priority=priority, state=state)


def display_message_clear(ocpp_version: str, *, message_id: int) -> OutboundCall:
    return _build(display_message_clear, ocpp_version, message_id=message_id)


def customer_information(
    ocpp_version: str,
    *,
    report: bool,
    clear: bool,
    id_token: str | None = None,
    id_token_type: str = CSMS_TOKEN_TYPE,
    customer_identifier: str | None = None,
    customer_certificate: dict | None = None,
) -> OutboundCall:
    """Have the station report and/or clear what it keeps about one customer (by exactly one of token,
    identifier or certificate hash data, camelCase); the report arrives in parts under the payload's requestId."""
    return _build(
        customer_information,
        ocpp_version,
        report=report,
        clear=clear,
        id_token=id_token,
        id_token_type=id_token_type,
        customer_identifier=customer_identifier,
        customer_certificate=customer_certificate,
    )


def charging_profiles_report(
    ocpp_version: str,
    *,
    request_id: int,
    evse_id: int | None = None,
    purpose: str | None = None,
    stack_level: int | None = None,
) -> OutboundCall:
    """Have the station report the profiles it holds (on ``evse_id``, 0: the station's own; all when None) that
    match the criteria given, in parts named by ``request_id``; answered nothing_to_do when it holds none."""
    return _build(
        charging_profiles_report,
        ocpp_version,
        request_id=request_id,
        evse_id=evse_id,
        purpose=purpose,
        stack_level=stack_level,
    )


# Certificates (the 1.6 security extension; 2.0.1 blocks A and M). Certificate types by their 2.0.1 names: a 1.6
# station's CentralSystemRootCertificate is a CSMSRootCertificate here.


def certificate_signed(
    ocpp_version: str, *, certificate_chain: str, certificate_type: str = "ChargingStationCertificate"
) -> OutboundCall:
    """Hand the station the certificate (PEM, leaf first) the CA signed for its CSR."""
    return _build(
        certificate_signed, ocpp_version, certificate_chain=certificate_chain, certificate_type=certificate_type
    )


def certificate_install(ocpp_version: str, *, certificate_type: str, certificate: str) -> OutboundCall:
    """Have the station trust a root certificate (PEM) as ``certificate_type`` (CSMSRootCertificate, ...)."""
    return _build(certificate_install, ocpp_version, certificate_type=certificate_type, certificate=certificate)


def certificate_delete(ocpp_version: str, *, hash_data: dict) -> OutboundCall:
    """Have the station remove the certificate named by ``hash_data`` (CertificateHashDataType, camelCase)."""
    return _build(certificate_delete, ocpp_version, hash_data=hash_data)


def installed_certificate_ids(ocpp_version: str, *, certificate_type: str | None = None) -> OutboundCall:
    """Ask which certificates of ``certificate_type`` the station holds (2.0.1: every type when None); the answer's
    data: ``certificates``, each with ``certificate_type`` (None from 1.6: the type asked), the four hash fields
    in snake_case and ``children``."""
    return _build(installed_certificate_ids, ocpp_version, certificate_type=certificate_type)


def certificate_renewal(ocpp_version: str, *, certificate_type: str = "ChargingStationCertificate") -> OutboundCall:
    """Ask the station for a new key pair and its CSR (SignCertificate follows): the CSMS-initiated renewal (A02)."""
    return _build(certificate_renewal, ocpp_version, certificate_type=certificate_type)


# Answers


def answer_of(ocpp_version: str, command: StationCommand) -> Answer:
    """What an answered command's answer means (the command was built for ``ocpp_version``)."""
    if command.status != StationCommand.Status.ANSWERED:
        raise ValueError(f"Command {command.pk} was not answered ({command.status}).")
    return _wire(ocpp_version).interpret(command.action, command.response or {})


def _lookup(kind: str, action: str, payload: dict) -> tuple[ModuleType, dict] | None:
    # By the action rather than the station's version now: the one the command was built for.
    for module in VERSIONS.values():
        lookup = getattr(module, kind)(action, payload)
        if lookup is not None:
            return module, lookup
    return None


def stopped_session_id(*, station_id: int, action: str, payload: dict) -> int | None:
    """Our key of the session a remote stop names, when it is one of this station's (else None)."""
    found = _lookup("stopped_session", action, payload)
    if found is None:
        return None
    return Transaction.objects.filter(station_id=station_id, **found[1]).values_list("pk", flat=True).first()


def remote_starts_at(connector_id: int) -> Q:
    """The filter of the remote-start commands aimed at a connector, in any version."""
    return reduce(or_, (module.remote_starts_at(connector_id) for module in VERSIONS.values()))


def remote_start_session(*, command: StationCommand) -> Transaction | None:
    """The session an accepted remote start led to, once the station has started it; stored on the command."""
    if command.transaction_id:
        return command.transaction
    if command.status != StationCommand.Status.ANSWERED:
        return None
    found = _lookup("started_session", command.action, command.payload or {})
    if found is None:
        return None
    module, lookup = found
    if not module.interpret(command.action, command.response or {}).accepted:
        return None
    sessions = Transaction.objects.filter(station_id=command.station_id, created_at__gte=command.created_at)
    session = sessions.filter(**lookup).order_by("created_at").first()
    if session is not None:
        StationCommand.objects.filter(pk=command.pk).update(transaction=session)
        command.transaction = session
    return session


async def remote_start_session_wait(*, command: StationCommand, wait: float) -> Transaction | None:
    """Wait up to ``wait`` seconds for the session of an accepted remote start."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        found = await sync_to_async(remote_start_session)(command=command)
        if found is not None or asyncio.get_running_loop().time() >= deadline:
            return found
        await asyncio.sleep(SESSION_POLL_INTERVAL)
