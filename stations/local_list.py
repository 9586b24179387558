"""Keeping each station's local authorization list in step with the ID tokens (SendLocalList).

Every token change takes the next ``LocalListVersion``; a station that holds the list as of version N gets
a Differential update with the tokens changed after N, or a Full one when nothing is known of its list, a
token was deleted after N (a differential cannot remove what it does not name), or it answers
VersionMismatch or Failed to a differential (as the spec advises). A list longer than the station's
SendLocalListMaxLength goes in chunks: the first Full, the rest Differential, each with the next version
of the station's own counter (``StationLocalList.station_version``: a differential must carry a higher
version than the list it applies to). A list longer than LocalAuthListMaxLength keeps the accepted tokens
first. Offline stations are skipped and caught up by the next run (``local_lists_due``).

What the station can take comes from its configuration: LocalAuthListEnabled, LocalAuthListMaxLength,
SendLocalListMaxLength and SupportedFeatureProfiles, as already read on this connection (the stations app
keeps every station's last known configuration), else asked (``outbound.local_list_settings_read``: 1.6
GetConfiguration; 2.0.1 GetVariables of LocalAuthListCtrlr Enabled, ItemsPerMessage and Available, kept
under the 1.6 names) and kept there. A
station whose list is disabled, or that lacks the LocalAuthListManagement profile, is sent nothing. After
anything but success the station's automatic sync waits (``CMS_LOCAL_LIST_RETRY_MINUTES``, the last wait
repeating; a disabled or unsupported list waits the longest), and the next attempt reads the station's
list version and settings again, so it sends a Full list whenever the station's list is in doubt. A new
boot or a change of those settings (an accepted ChangeConfiguration) ends the wait.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.utils import timezone

from accounts.app_settings import app_settings
from accounts.models import IdToken, StationLocalList
from accounts.selectors import LocalListEntry, local_list_entries, local_list_version
from monitoring.maintenance import configuration_store
from stations.models import ConfigurationKey, Station, StationCommand
from stations.protocol import outbound
from stations.protocol.commands import station_call_sync
from stations.protocol.outbound import Outcome
from stations.selectors import station_configuration

logger = logging.getLogger(__name__)

Status = StationLocalList.Status
Command = StationCommand.Status

# A sync re-reads the version after each update, so changes made meanwhile go out in the same run; bounded.
MAX_ROUNDS = 3
# Long enough for a full list in chunks to a slow station; a crashed worker's lock expires by itself.
LOCK_SECONDS = 600
UNSUPPORTED_ERRORS = {"NotImplemented", "NotSupported"}
LIMIT_KEYS = {"SendLocalListMaxLength": "send_max_length", "LocalAuthListMaxLength": "list_max_length"}
# The configuration keys a sync depends on; a change of any of them ends a station's backoff.
SETTING_KEYS = ("LocalAuthListEnabled", *LIMIT_KEYS, "SupportedFeatureProfiles")
PROFILE = "LocalAuthListManagement"
# A station left in one of these is looked at afresh (list version, settings) on the next attempt.
RECHECK_AFTER = {Status.FAILED, Status.DISABLED, Status.NOT_SUPPORTED}


@dataclass(frozen=True)
class SyncResult:
    """What one sync did: ``outcome`` is in_sync (nothing to send), updated, offline, busy, disabled,
    not_supported or failed; ``update_type`` Full or Differential when something was sent."""

    outcome: str
    update_type: str = ""
    entries: int = 0
    detail: str = ""


def local_lists_due(*, now: datetime | None = None) -> list[int]:
    """The online stations whose list is behind, unknown, or not yet checked on their current connection,
    leaving out those waiting after an unsuccessful sync (unless something ended their wait)."""
    now = now or timezone.now()
    current = local_list_version().version
    stations = list(
        Station.objects.filter(is_online=True, registration_status=Station.RegistrationStatus.ACCEPTED)
        .exclude(ocpp_version="")
        .select_related("local_list")
    )
    known = station_configuration(station_ids=[station.pk for station in stations], keys=SETTING_KEYS)
    due = []
    for station in stations:
        state = getattr(station, "local_list", None)
        if state is None or _fresh_start(station, state, known.get(station.pk, {})):
            due.append(station.pk)
        elif state.next_attempt_at is not None:
            if state.next_attempt_at <= now:
                due.append(station.pk)
        elif state.status not in (Status.DISABLED, Status.NOT_SUPPORTED) and state.synced_version != current:
            due.append(station.pk)
    return due


def local_list_retry_delay(attempts: int, *, longest: bool = False) -> timedelta:
    """The wait after ``attempts`` unsuccessful syncs in a row: the configured steps, the last one repeating
    (at once when ``longest``)."""
    minutes = app_settings.LOCAL_LIST_RETRY_MINUTES
    step = len(minutes) if longest else min(max(attempts, 1), len(minutes))
    return timedelta(minutes=minutes[step - 1])


def _fresh_start(station: Station, state: StationLocalList, known: dict[str, ConfigurationKey]) -> str:
    """Why the station's list must be looked at now ("" when nothing says so). A boot or changed settings end
    any wait; a new connection alone does not (a station that keeps reconnecting would be asked each time)."""
    if state.checked_at is not None:
        if station.last_boot_at is not None and station.last_boot_at > state.checked_at:
            return "new boot"
        if _values(known) != state.settings:
            return "settings changed"
    if state.checked_connection_at != station.connected_at and state.next_attempt_at is None:
        return "new connection"
    return ""


def _values(known: dict[str, ConfigurationKey]) -> dict[str, str | None]:
    return {key: row.value for key, row in sorted(known.items())}


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
    try:
        outbound.check(
            station.ocpp_version,
            outbound.local_list_send,
            outbound.local_list_version,
            outbound.local_list_settings_read,
        )
    except outbound.Unsupported as error:
        state.checked_connection_at = station.connected_at
        return _stop(state, Status.NOT_SUPPORTED, str(error), retry=False)
    known = station_configuration(station_ids=[station.pk], keys=SETTING_KEYS).get(station.pk, {})
    reason = _fresh_start(station, state, known)
    if reason and state.attempts:
        logger.info("local list backoff ended", extra={"station_id": station.ocpp_id, "reason": reason})
    if reason:
        state.attempts, state.next_attempt_at = 0, None
    if reason or state.status in RECHECK_AFTER:
        failure = _check_station(station, state, known)
        if failure is not None:
            return failure

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
        answer, said = _send(station, state, entries, full=full)
        if answer == Outcome.ACCEPTED:
            state.synced_version = current.version
            state.synced_at = timezone.now()
            state.attempts = 0
            if full:
                state.entries = len(entries)
            sent = SyncResult("updated", "Full" if full else "Differential", len(entries))
            force_full = False
            continue
        state.synced_version = None  # whatever the station did with it, its list is no longer known
        if answer in (Outcome.VERSION_MISMATCH, Outcome.FAILED) and not full:
            force_full = True
            continue
        if answer == Outcome.NOT_SUPPORTED:
            return _stop(state, Status.NOT_SUPPORTED, "The station answered NotSupported: it keeps no local list.")
        if answer is not None:
            said = f"The station answered {said} to a {'Full' if full else 'Differential'} SendLocalList."
        return _stop(state, Status.FAILED, said)
    result = _stop(state, Status.PENDING, "Tokens kept changing; the rest goes out on the next run.")
    return sent or result


def _check_station(station: Station, state: StationLocalList, known: dict[str, ConfigurationKey]) -> SyncResult | None:
    """Read the station's local-list settings and its list version (a reset may have emptied the list).

    The settings are taken from the stations app's record when the station reported them since it last
    connected or booted and since the previous check; otherwise the station is asked (GetConfiguration).
    """
    moments = [station.connected_at, station.last_boot_at, state.checked_at]
    since = max((moment for moment in moments if moment is not None), default=None)
    # Whatever comes of it, this connection and boot have been looked at: the backoff applies from here.
    state.checked_connection_at, state.checked_at = station.connected_at, timezone.now()
    if not all(
        key in known and (since is None or known[key].reported_at > since)
        for key in ("LocalAuthListEnabled", *LIMIT_KEYS)
    ):
        action, payload = outbound.local_list_settings_read(station.ocpp_version)
        config = station_call_sync(station=station, action=action, payload=payload)
        if config.status == Command.ANSWERED:
            keys = outbound.answer_of(station.ocpp_version, config).data["keys"]
            configuration_store(station=station, keys=keys, now=state.checked_at)
            known = station_configuration(station_ids=[station.pk], keys=SETTING_KEYS).get(station.pk, {})
        elif not (config.status == Command.CALL_ERROR and config.error_code in UNSUPPORTED_ERRORS):
            return _stop(state, Status.FAILED, _failure(config))
    state.settings = _values(known)
    for key, field in LIMIT_KEYS.items():
        setattr(state, field, _positive_int(state.settings.get(key)))
    profiles = state.settings.get("SupportedFeatureProfiles")
    if profiles is not None and PROFILE.lower() not in {name.strip().lower() for name in profiles.split(",")}:
        return _stop(state, Status.NOT_SUPPORTED, f"The station does not support the {PROFILE} feature profile.")
    if (state.settings.get("LocalAuthListEnabled") or "").strip().lower() == "false":
        return _stop(state, Status.DISABLED, "LocalAuthListEnabled is false on the station.")

    action, payload = outbound.local_list_version(station.ocpp_version)
    command = station_call_sync(station=station, action=action, payload=payload)
    if command.status == Command.CALL_ERROR and command.error_code in UNSUPPORTED_ERRORS:
        return _stop(state, Status.NOT_SUPPORTED, "The station does not support local lists.")
    if command.status != Command.ANSWERED:
        return _stop(state, Status.FAILED, _failure(command))
    version = outbound.answer_of(station.ocpp_version, command).data["version"]
    if version < 0:  # -1: the station has no local authorization list
        return _stop(state, Status.NOT_SUPPORTED, "The station has no local list (its list version is -1).")
    if version != state.station_version:
        logger.info(
            "station local list version differs; a full update follows",
            extra={"station_id": station.ocpp_id, "station_version": version, "expected": state.station_version},
        )
        state.station_version, state.synced_version = version, None
    if state.status in RECHECK_AFTER:
        state.status = Status.PENDING
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
    longest = outbound.id_token_max_length(station.ocpp_version)
    fitting = [entry for entry in entries if len(entry.token) <= longest]
    if len(fitting) < len(entries):
        logger.warning(
            "tokens longer than the station's OCPP version carries left off its local list",
            extra={
                "station_id": station.ocpp_id,
                "tokens_left_off": len(entries) - len(fitting),
                "max_length": longest,
            },
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


def _send(
    station: Station, state: StationLocalList, entries: list[LocalListEntry], *, full: bool
) -> tuple[Outcome | None, str]:
    """Send the update in chunks: the outcome of the first chunk the station did not accept (ACCEPTED when it took
    them all) with its status word, or None with what went wrong when it did not answer."""
    size = state.send_max_length or app_settings.LOCAL_LIST_CHUNK
    chunks = [entries[start : start + size] for start in range(0, len(entries), size)] or [[]]
    state.last_attempt_at = timezone.now()
    for number, chunk in enumerate(chunks):
        first_of_full = full and number == 0
        update_type = "Full" if first_of_full else "Differential"
        version = state.station_version + 1
        action, payload = outbound.local_list_send(
            station.ocpp_version, version=version, full=first_of_full, entries=chunk
        )
        command = station_call_sync(station=station, action=action, payload=payload)
        state.last_update_type = update_type
        if command.status == Command.CALL_ERROR and command.error_code in UNSUPPORTED_ERRORS:
            return Outcome.NOT_SUPPORTED, command.error_code
        if command.status != Command.ANSWERED:
            return None, _failure(command)
        answer = outbound.answer_of(station.ocpp_version, command)
        if answer.outcome != Outcome.ACCEPTED:
            logger.info(
                "station did not take its local list",
                extra={"station_id": station.ocpp_id, "update_type": update_type, "answer": answer.status},
            )
            return answer.outcome, answer.status
        state.station_version = version
        state.save(update_fields=["station_version", "last_update_type", "last_attempt_at"])
    logger.info(
        "local list sent",
        extra={
            "station_id": station.ocpp_id,
            "update_type": "Full" if full else "Differential",
            "entries": len(entries),
            "messages": len(chunks),
            "list_version": state.station_version,
        },
    )
    return Outcome.ACCEPTED, "Accepted"


def _failure(command: StationCommand) -> str:
    reason = command.error_description or command.error_code or command.status
    return f"{command.action}: {command.status}: {reason}"[:255]


OUTCOMES = {
    Status.IN_SYNC: "in_sync",
    Status.PENDING: "failed",
    Status.FAILED: "failed",
    Status.DISABLED: "disabled",
    Status.NOT_SUPPORTED: "not_supported",
}


def _stop(state: StationLocalList, status: str, error: str, *, retry: bool = True) -> SyncResult:
    """Record where the sync ended; anything but success schedules the next attempt (``retry``) or none."""
    state.status = status
    state.last_error = error[:255]
    if status in (Status.IN_SYNC, Status.PENDING):
        state.attempts, state.next_attempt_at = 0, None
    elif retry:
        state.attempts += 1
        # A disabled or unsupported list is a setting, not a fault that may pass: looked at again only rarely.
        state.next_attempt_at = timezone.now() + local_list_retry_delay(state.attempts, longest=status != Status.FAILED)
    else:
        state.next_attempt_at = None
    state.save()
    return SyncResult(OUTCOMES[status], detail=state.last_error)
