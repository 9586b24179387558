"""Station credentials and how they may connect: the security profile (OCPP 1.6 security whitepaper, 2.0.1 Part 2
A00), the login at the handshake (a password, or for profile 3 a client certificate; failures throttled) and the
rotation of a station's Basic-auth password (1.6 and 2.0.1 use case A01)."""

import logging
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from stations import client_certificates, login_throttle, services
from stations.client_certificates import ClientCertificate
from stations.models import Station, StationCommand, security_profile_available
from stations.protocol import outbound
from stations.protocol.commands import station_call_sync

logger = logging.getLogger(__name__)

Profile = Station.SecurityProfile
Status = StationCommand.Status
# Letters and digits only: valid in a 2.0.1 passwordString and, as single bytes, in a 1.6 AuthorizationKey.
PASSWORD_ALPHABET = string.ascii_letters + string.digits


class SecurityProfileRefused(ValueError):
    """The change of profile is not made; the message says why and what would make it acceptable."""


def security_profile_check(*, station: Station, profile: int, lowering_confirmed: bool) -> None:
    """Raising is free; lowering must be confirmed (OCPP leaves it out of the protocol on purpose, A00.FR.005)."""
    try:
        security_profile_available(profile)
    except ValidationError as unavailable:
        raise SecurityProfileRefused(unavailable.messages[0]) from unavailable
    if profile < station.security_profile and not lowering_confirmed:
        raise SecurityProfileRefused(
            f"Lowering the security profile from {station.security_profile} to {profile} lets the station connect "
            "without TLS, its password readable on the network: confirm that you mean it."
        )


def station_security_profile_set(*, station: Station, profile: int, lowering_confirmed: bool = False, changed_by=None):
    """Set how the station must connect from its next connection on (a connection in progress is not ended)."""
    security_profile_check(station=station, profile=profile, lowering_confirmed=lowering_confirmed)
    before = station.security_profile
    if profile == before:
        return station
    station.security_profile = profile
    station.save(update_fields=["security_profile", "updated_at"])
    log = logger.warning if profile < before else logger.info
    log(
        "station security profile changed",
        extra={
            "station_id": station.ocpp_id,
            "from_profile": before,
            "to_profile": profile,
            "changed_by": getattr(changed_by, "email", "") or "",
        },
    )
    return station


def insecure_connection_refused(*, station: Station, client: str) -> None:
    """A station of profile 2 or more connected without TLS (A00.FR.002: refused): a security event for the
    operator, since the password it sent crossed the network readable."""
    from monitoring.alerts import alert_security_event

    logger.warning(
        "security event: station refused, its security profile requires TLS",
        extra={"station_id": station.ocpp_id, "security_profile": station.security_profile, "client": client},
    )
    alert_security_event(
        station=station,
        event_type="InsecureConnectionRefused",
        tech_info=(
            f"Connected without TLS although its security profile is {station.security_profile}; its password "
            "crossed the network unencrypted: rotate it once the station connects over TLS."
        )[:255],
    )


@dataclass(frozen=True)
class Login:
    station: Station | None  # None: refused
    throttled: bool = False  # refused unseen, for too many failures (429)


@dataclass(frozen=True)
class LoginAttempt:
    """A handshake's credentials (the arguments of ``station_login``)."""

    ocpp_id: str
    password: bytes | None
    certificate: ClientCertificate | None
    client: str


def station_logins(attempts: Sequence[LoginAttempt]) -> list[Login]:
    """``station_login`` of many handshakes at once (a reconnect storm brings them by the thousand): the
    throttle's counts, the stations and their passwords verified before are read for all together, a round trip
    each instead of three per handshake. What that does not settle (a password not verified before, a wrong one,
    an unknown id, a client certificate) goes through ``station_login`` one after the other, so that each failure
    is counted before the next attempt is looked at, as without batches.
    """
    throttled = login_throttle.logins_throttled([(attempt.ocpp_id, attempt.client) for attempt in attempts])
    by_password = [
        index for index, attempt in enumerate(attempts) if attempt.certificate is None and not throttled[index]
    ]
    recognised = services.stations_recognised([(attempts[i].ocpp_id, attempts[i].password) for i in by_password])
    logins: list[Login | None] = [Login(None, throttled=True) if refused else None for refused in throttled]
    for index, station in zip(by_password, recognised, strict=True):
        if station is not None:
            logins[index] = _password_login(attempts[index], station)
    return [
        login
        if login is not None
        else station_login(
            ocpp_id=attempt.ocpp_id, password=attempt.password, certificate=attempt.certificate, client=attempt.client
        )
        for login, attempt in zip(logins, attempts, strict=True)
    ]


def station_login(*, ocpp_id: str, password: bytes | None, certificate: ClientCertificate | None, client: str) -> Login:
    """Who is connecting, from the handshake's credentials: the station, or a refusal (counted, see login_throttle).

    A station of profile 3 logs in with its verified client certificate alone, whose subject field
    (CMS_OCPP_CLIENT_CERT_ID_FIELD, CN by default) must be its id; never with a password. Stations of profiles 1
    and 2 log in with their password, a certificate or not: their profile says how they connect, and a
    certificate does not lift it.
    """
    attempt = LoginAttempt(ocpp_id, password, certificate, client)
    if login_throttle.login_throttled(ocpp_id=ocpp_id, address=client):
        return Login(None, throttled=True)
    station = None
    if certificate is not None:
        station = Station.objects.filter(ocpp_id=ocpp_id, security_profile=Profile.TLS_CLIENT_CERTIFICATE).first()
    if station is None:
        return _password_login(attempt, services.station_authenticate(ocpp_id=ocpp_id, password=password))
    refusal = (
        certificate.refusal
        or ("" if certificate.station_id == ocpp_id else f"client certificate of {certificate.station_id or 'no id'!r}")
        or client_certificates.revocation_refusal(certificate)
    )
    return _concluded(attempt, station, refusal)


def _password_login(attempt: LoginAttempt, station: Station | None) -> Login:
    """The login of a station authenticated by its password (``station``; None: unknown, or a wrong password)."""
    refusal = "" if station is not None else "unknown station or wrong password"
    if station is not None and station.security_profile == Profile.TLS_CLIENT_CERTIFICATE:
        refusal = "security profile 3 needs the station's client certificate; a password is not enough"
    return _concluded(attempt, station, refusal)


def _concluded(attempt: LoginAttempt, station: Station | None, refusal: str) -> Login:
    if refusal:
        login_throttle.login_failed(ocpp_id=attempt.ocpp_id, address=attempt.client, reason=refusal)
        return Login(None)
    return Login(station)


@dataclass(frozen=True)
class PasswordRotation:
    adopted: bool
    detail: str  # for the operator: what happened, and what to do when it did not work
    command: StationCommand


def password_generate(ocpp_version: str) -> str:
    """A random password of the longest length the station's version carries (1.6: 20, 2.0.1: 40 characters)."""
    length = outbound.password_max_length(ocpp_version)
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


def station_password_rotate(*, station: Station, requested_by=None, timeout: float | None = None) -> PasswordRotation:
    """Give the station a new random password and adopt it the moment the station accepts it (1.6 and 2.0.1
    A01.FR.03): from then on its old password is refused. Refused, unanswered or not sent: the old one stays.

    The new password is never stored in clear nor shown: only the station and its hash know it.
    """
    station = Station.objects.get(pk=station.pk)
    password = password_generate(station.ocpp_version or outbound.DEFAULT_VERSION)
    call = outbound.password_set(station.ocpp_version, password=password)
    command = station_call_sync(
        station=station, action=call.action, payload=call.payload, requested_by=requested_by, timeout=timeout
    )
    if command.status == Status.ANSWERED:
        answer = outbound.answer_of(station.ocpp_version, command)
        if answer.accepted:
            station.set_password(password)
            station.save(update_fields=["password_hash", "updated_at"])
            logger.info("station password rotated", extra={"station_id": station.ocpp_id, "command_id": command.pk})
            detail = "The station accepted its new password: its old one is refused from now on."
            if answer.status == "RebootRequired":
                detail += " It uses the new one after a reboot: reset it."
            return PasswordRotation(True, detail, command)
        detail = f"The station refused the new password ({answer.status or 'no status'}): its old one stays."
    elif command.status == Status.TIMEOUT:
        detail = (
            f"{command.error_description} The old password stays. Should the station have taken the new one after "
            "all, it is refused at its next connection: then give it a password by hand, on both sides."
        )
    else:
        detail = f"The password was not changed ({command.get_status_display()}): {command.error_description}"
    logger.warning(
        "station password not rotated",
        extra={"station_id": station.ocpp_id, "command_id": command.pk, "status": command.status},
    )
    return PasswordRotation(False, detail, command)
