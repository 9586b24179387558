"""Keeping each station's local authorization list in step with the ID tokens (SendLocalList, OCPP 1.6).

Every token change takes the next ``LocalListVersion``; a station that holds the list as of version N gets
a Differential update with the tokens changed after N, or a Full one when nothing is known of its list, a
token was deleted after N (a differential cannot remove what it does not name), or it answers
VersionMismatch or Failed to a differential (as the spec advises). A list longer than the station's
SendLocalListMaxLength goes in chunks: the first Full, the rest Differential, each with the next version
of the station's own counter (``StationLocalList.station_version``: a differential must carry a higher
version than the list it applies to). A list longer than LocalAuthListMaxLength keeps the accepted tokens
first. Offline stations are skipped and caught up by the next run (``local_lists_due``).
"""

import logging
from dataclasses import dataclass

from django.core.cache import cache
from django.utils import timezone

from accounts.app_settings import app_settings
from accounts.models import IdToken, StationLocalList
from accounts.selectors import LocalListEntry, local_list_entries, local_list_version
from stations.models import Station, StationCommand
from stations.protocol.commands import station_call_sync

logger = logging.getLogger(__name__)

Status = StationLocalList.Status
Command = StationCommand.Status

# OCPP 1.6 idTag and parentIdTag are CiString20: longer (2.0.1-style) tokens cannot be on a 1.6 list.
ID_TAG_MAX = 20
# A sync re-reads the version after each update, so changes made meanwhile go out in the same run; bounded.
MAX_ROUNDS = 3
# Long enough for a full list in chunks to a slow station; a crashed worker's lock expires by itself.
LOCK_SECONDS = 600
UNSUPPORTED_ERRORS = {"NotImplemented", "NotSupported"}
LIMIT_KEYS = {"SendLocalListMaxLength": "send_max_length", "LocalAuthListMaxLength": "list_max_length"}


@dataclass(frozen=True)
class SyncResult:
    """What one sync did: ``outcome`` is in_sync (nothing to send), updated, offline, busy, not_supported or
    failed; ``update_type`` Full or Differential when something was sent."""

    outcome: str
    update_type: str = ""
    entries: int = 0
    detail: str = ""


def local_lists_due() -> list[int]:
    """The online stations whose list is behind, unknown, or not yet checked on their current connection."""
    current = local_list_version().version
    rows = (
        Station.objects.filter(is_online=True, registration_status=Station.RegistrationStatus.ACCEPTED)
        .exclude(ocpp_version="")
        .values_list(
            "pk", "connected_at", "local_list__status", "local_list__synced_version",
            "local_list__checked_connection_at",
        )
    )
    due = []
    for pk, connected_at, status, synced_version, checked_connection_at in rows:
        if status is None or checked_connection_at != connected_at:
            due.append(pk)
        elif status != Status.NOT_SUPPORTED and (synced_version is None or synced_version != current):
            due.append(pk)
    return due


def station_local_list_sync(*, station: Station, force_full: bool = False) -> SyncResult:
    """Bring ``station``'s local list up to date now (one sync per station at a time; others answer busy)."""
    station = Station.objects.get(pk=station.pk)  # the connection state of this very moment
    accepted = station.registration_status == Station.RegistrationStatus.ACCEPTED
    if not (station.is_online and station.channel_name and accepted):
        return SyncResult("offline", detail="The station is not connected.")
    key = f"accounts:local-list-sync:{station.pk}"
    if not cache.add(key, 1, timeout=LOCK_SECONDS):
        return SyncResult("busy", detail="Another sync of this station is running.")
    try:
        state, _ = StationLocalList.objects.get_or_create(station=station)
        return _sync(station, state, force_full)
    finally:
        cache.delete(key)


def _sync(station: Station, state: StationLocalList, force_full: bool) -> SyncResult:
    if station.ocpp_version != "1.6":
        state.checked_connection_at = station.connected_at
        return _stop(state, Status.NOT_SUPPORTED, f"Local lists of OCPP {station.ocpp_version} are not synced yet.")
    if state.checked_connection_at != station.connected_at:
        failure = _check_station(station, state)
        if failure is not None:
            return failure
    elif state.status == Status.NOT_SUPPORTED:
        return SyncResult("not_supported", detail=state.last_error)

    sent = None
    for _ in range(MAX_ROUNDS):
        current = local_list_version()
        synced = state.synced_version
        full = force_full or synced is None or synced < current.full_update_from or synced > current.version
        if not full and synced == current.version:
            _stop(state, Status.IN_SYNC, "")
            return sent or SyncResult("in_sync")
        entries = _entries(station, None if full else synced)
        if full:
            entries = _fit(station, state, entries)
        answer = _send(station, state, entries, full=full)
        if answer == "Accepted":
            state.synced_version = current.version
            state.synced_at = timezone.now()
            if full:
                state.entries = len(entries)
            sent = SyncResult("updated", "Full" if full else "Differential", len(entries))
            force_full = False
            continue
        state.synced_version = None  # whatever the station did with it, its list is no longer known
        if answer in ("VersionMismatch", "Failed") and not full:
            force_full = True
            continue
        if answer == "NotSupported":
            return _stop(state, Status.NOT_SUPPORTED, "The station answered NotSupported: it keeps no local list.")
        return _stop(state, Status.FAILED, answer)
    result = _stop(state, Status.PENDING, "Tokens kept changing; the rest goes out on the next run.")
    return sent or result


def _check_station(station: Station, state: StationLocalList) -> SyncResult | None:
    """On a new connection: read the station's list version (a reset may have emptied it) and its limits."""
    command = station_call_sync(station=station, action="GetLocalListVersion", payload={})
    if command.status == Command.CALL_ERROR and command.error_code in UNSUPPORTED_ERRORS:
        state.checked_connection_at = station.connected_at
        return _stop(state, Status.NOT_SUPPORTED, "The station does not support local lists.")
    if command.status != Command.ANSWERED:
        return _stop(state, Status.FAILED, _failure(command))
    version = command.response["listVersion"]
    state.checked_connection_at = station.connected_at
    if version < 0:  # -1: the station has no local authorization list
        return _stop(state, Status.NOT_SUPPORTED, "The station does not support local lists.")
    if version != state.station_version:
        logger.info(
            "station local list version differs; a full update follows",
            extra={"station_id": station.ocpp_id, "station_version": version, "expected": state.station_version},
        )
        state.station_version, state.synced_version = version, None
    if state.status == Status.NOT_SUPPORTED:
        state.status = Status.PENDING  # it may have been enabled meanwhile (new firmware, configuration)
    config = station_call_sync(station=station, action="GetConfiguration", payload={"key": list(LIMIT_KEYS)})
    if config.status == Command.ANSWERED:
        for item in config.response.get("configurationKey") or []:
            if item.get("key") in LIMIT_KEYS:
                setattr(state, LIMIT_KEYS[item["key"]], _positive_int(item.get("value")))
    state.save()
    return None


def _positive_int(value) -> int | None:
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number > 0 else None


def _entries(station: Station, since_version: int | None) -> list[LocalListEntry]:
    entries = local_list_entries(station=station, since_version=since_version)
    fitting = [entry for entry in entries if len(entry.token) <= ID_TAG_MAX]
    if len(fitting) < len(entries):
        logger.warning(
            "tokens longer than 20 characters left off an OCPP 1.6 local list",
            extra={"station_id": station.ocpp_id, "tokens_left_off": len(entries) - len(fitting)},
        )
    return fitting


def _fit(station: Station, state: StationLocalList, entries: list[LocalListEntry]) -> list[LocalListEntry]:
    """A full list within LocalAuthListMaxLength: accepted tokens first (they are what offline charging needs)."""
    entries = sorted(entries, key=lambda entry: (entry.status != IdToken.Status.ACCEPTED, entry.token))
    limit = state.list_max_length
    if limit is not None and len(entries) > limit:
        logger.warning(
            "local list longer than the station holds; truncated",
            extra={"station_id": station.ocpp_id, "entries": len(entries), "station_limit": limit},
        )
        entries = entries[:limit]
    return entries


def _authorization_data(entry: LocalListEntry) -> dict:
    info = {"status": entry.status}
    if entry.expires_at is not None:
        info["expiryDate"] = entry.expires_at.isoformat()
    if entry.parent_id and len(entry.parent_id) <= ID_TAG_MAX:
        info["parentIdTag"] = entry.parent_id
    return {"idTag": entry.token, "idTagInfo": info}


def _send(station: Station, state: StationLocalList, entries: list[LocalListEntry], *, full: bool) -> str:
    """Send the update in chunks; the station's answer to the first chunk it did not accept (or Accepted)."""
    size = state.send_max_length or app_settings.LOCAL_LIST_CHUNK
    chunks = [entries[start : start + size] for start in range(0, len(entries), size)] or [[]]
    state.last_attempt_at = timezone.now()
    for number, chunk in enumerate(chunks):
        update_type = "Full" if full and number == 0 else "Differential"
        version = state.station_version + 1
        payload = {"listVersion": version, "updateType": update_type}
        if chunk:
            payload["localAuthorizationList"] = [_authorization_data(entry) for entry in chunk]
        command = station_call_sync(station=station, action="SendLocalList", payload=payload)
        state.last_update_type = update_type
        if command.status == Command.CALL_ERROR and command.error_code in UNSUPPORTED_ERRORS:
            return "NotSupported"
        if command.status != Command.ANSWERED:
            return _failure(command)
        answer = command.response["status"]
        if answer != "Accepted":
            logger.info(
                "station did not take its local list",
                extra={"station_id": station.ocpp_id, "update_type": update_type, "answer": answer},
            )
            return answer
        state.station_version = version
        state.save(update_fields=["station_version", "last_update_type", "last_attempt_at"])
    logger.info(
        "local list sent",
        extra={"station_id": station.ocpp_id, "update_type": "Full" if full else "Differential",
               "entries": len(entries), "messages": len(chunks), "list_version": state.station_version},
    )
    return "Accepted"


def _failure(command: StationCommand) -> str:
    reason = command.error_description or command.error_code or command.status
    return f"{command.action}: {command.status}: {reason}"[:255]


OUTCOMES = {Status.IN_SYNC: "in_sync", Status.PENDING: "failed", Status.FAILED: "failed",
            Status.NOT_SUPPORTED: "not_supported"}


def _stop(state: StationLocalList, status: str, error: str) -> SyncResult:
    state.status = status
    state.last_error = error[:255]
    state.save()
    return SyncResult(OUTCOMES[status], detail=state.last_error)
