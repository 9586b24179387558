"""The operator's CA: signing stations' CSRs, handing them their certificates, managing the certificates they hold,
revocation with a CRL, and alerts before certificates expire.

The CA is generated on first use (or imported: ``authority_import``); its private key is stored encrypted with
``CMS_PKI_KEY_PASSPHRASE``. A station's SignCertificate is answered at once (Accepted or Rejected); the certificate
follows as a CertificateSigned command once the answer has gone (``certificate_deliver``), as both versions want.
"""

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from asgiref.sync import async_to_sync, sync_to_async
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.db import IntegrityError, transaction
from django.utils import timezone

from monitoring.alerts import Condition, alert_close, alert_keep_current, alert_open, alert_security_event
from monitoring.models import Alert
from pki import crypto, selectors
from pki.app_settings import app_settings
from pki.crypto import CsrRefused
from pki.models import CertificateAuthority, InstalledCertificate, IssuedCertificate
from stations.models import Station, StationCommand
from stations.protocol import outbound
from stations.protocol.commands import station_call, station_call_sync

logger = logging.getLogger(__name__)

__all__ = ["CsrRefused"]

Type = IssuedCertificate.Type
Purpose = CertificateAuthority.Purpose
Delivery = IssuedCertificate.Delivery
# The security event recorded when a CSR is refused (our own name: neither version defines one for it).
CSR_REFUSED_EVENT = "CertificateSigningRequestRefused"
CRL_PATH = "/pki/crl.der"
# Each version reads installed certificates of one type at a time at most (1.6: always one).
READABLE_TYPES_16 = (InstalledCertificate.Type.CSMS_ROOT, InstalledCertificate.Type.MANUFACTURER_ROOT)


class PkiUnavailable(RuntimeError):
    """The CA cannot sign (its key does not decrypt with the configured passphrase, or no V2G CA was imported);
    the message says what to do."""


# The CA


def authority_ensure(*, now: datetime | None = None) -> CertificateAuthority:
    """The active CA, generated now when there is none (two processes at once: one wins, both use its CA)."""
    authority = selectors.authority_active()
    if authority is not None:
        return authority
    now = now or timezone.now()
    certificate, key = crypto.ca_generate(
        common_name=app_settings.CA_COMMON_NAME,
        organization=app_settings.ORGANIZATION or "Voltgrid",
        valid_days=app_settings.CA_VALIDITY_DAYS,
        now=now,
        rsa_bits=app_settings.CA_RSA_BITS,
    )
    try:
        with transaction.atomic():
            authority = _authority_store(certificate, key, imported=False)
    except IntegrityError:
        return selectors.authority_active()
    logger.warning("certificate authority generated", extra={"ca": authority.name, "serial": authority.serial_number})
    return authority


def authority_import(
    *, certificate_pem: str, key_pem: str, key_passphrase: bytes | None = None, purpose: str = Purpose.STATION
) -> CertificateAuthority:
    """Make an existing CA (certificate and its private key, PEM) the active one of its purpose; the previous one
    stays, for the certificates it issued and its CRL. ``certificate_pem`` may go on with the CAs above it (a V2G
    CPO Sub-CA 2, then Sub-CA 1), which are sent with every certificate it issues. ValueError saying what is
    wrong with the files."""
    certificate, *chain = _pem_certificates(certificate_pem)
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=key_passphrase)
    except (ValueError, TypeError) as error:
        raise ValueError(f"The private key cannot be read: {error}") from None
    crypto.ca_check(certificate, key)
    with transaction.atomic():
        authority = CertificateAuthority.objects.filter(fingerprint_sha256=crypto.fingerprint(certificate)).first()
        if authority is not None and authority.purpose != purpose:
            raise ValueError(f"This CA is already the {authority.get_purpose_display()}: one CA, one purpose.")
        CertificateAuthority.objects.filter(is_active=True, purpose=purpose).update(is_active=False)
        if authority is not None:
            authority.is_active = True
            authority.save(update_fields=["is_active"])
            return authority
        return _authority_store(certificate, key, imported=True, purpose=purpose, chain=chain)


def _pem_certificates(text: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates((text or "").strip().encode())
    except ValueError as error:
        raise ValueError(f"Not a PEM certificate: {error}") from None


def _authority_store(
    certificate: x509.Certificate, key, *, imported: bool, purpose: str = Purpose.STATION, chain=()
) -> CertificateAuthority:
    return CertificateAuthority.objects.create(
        name=crypto.subject_text(certificate.subject)[:255],
        purpose=purpose,
        certificate_pem=crypto.pem(certificate),
        chain_pem="".join(crypto.pem(link) for link in chain),
        private_key_pem=crypto.key_encrypt(key, app_settings.KEY_PASSPHRASE),
        serial_number=crypto.serial_hex(certificate.serial_number),
        fingerprint_sha256=crypto.fingerprint(certificate),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        is_active=True,
        imported=imported,
    )


def _signing(authority: CertificateAuthority) -> tuple[x509.Certificate, object]:
    try:
        key = crypto.key_decrypt(authority.private_key_pem, app_settings.KEY_PASSPHRASE)
    except (ValueError, TypeError):
        logger.error("the CA's private key does not decrypt", extra={"ca": authority.name})
        raise PkiUnavailable(
            "The CA's private key does not decrypt with CMS_PKI_KEY_PASSPHRASE (or, unset, with the one derived "
            "from SECRET_KEY): set the passphrase it was stored with."
        ) from None
    return crypto.certificate_load(authority.certificate_pem), key


def ca_export(*, path: str | None = None) -> Path:
    """Write the active CA's certificate (generating the CA on first use) where daphne's TLS client verification
    reads it (CMS_OCPP_CLIENT_CA_FILE), with the certificates of earlier station CAs still in use after it (never
    the V2G CA: what it signs logs no station in)."""
    authority = authority_ensure()
    target = Path(path or app_settings.CLIENT_CA_FILE)
    target.parent.mkdir(parents=True, exist_ok=True)
    others = CertificateAuthority.objects.exclude(pk=authority.pk).filter(
        purpose=Purpose.STATION, not_after__gt=timezone.now()
    )
    bundle = "".join([authority.certificate_pem, *(other.certificate_pem for other in others)])
    target.write_text(bundle)
    target.chmod(0o644)
    return target


# Signing a station's CSR


def _csr_digest(csr: str) -> str:
    return hashlib.sha256("".join((csr or "").split()).encode()).hexdigest()


def certificate_sign_request(
    *, station: Station, csr: str, certificate_type: str = Type.CHARGING_STATION, now: datetime | None = None
) -> IssuedCertificate:
    """Check a station's CSR (SignCertificate) and issue its certificate, to be delivered by ``certificate_deliver``.

    A refused CSR raises CsrRefused, after it is logged and recorded as a security event of the station. The
    same CSR sent again (the station did not get its certificate) gets the same certificate again.
    """
    now = now or timezone.now()
    try:
        request = crypto.csr_load(csr)
        charging_station = certificate_type == Type.CHARGING_STATION
        crypto.csr_check(
            request,
            common_name=station.ocpp_id if charging_station else None,
            organization=app_settings.ORGANIZATION if charging_station else "",
        )
    except CsrRefused as refused:
        logger.warning(
            "certificate signing request refused",
            extra={"station_id": station.ocpp_id, "certificate_type": certificate_type, "reason": str(refused)},
        )
        alert_security_event(station=station, event_type=CSR_REFUSED_EVENT, tech_info=str(refused)[:255])
        raise
    digest = _csr_digest(csr)
    again = IssuedCertificate.objects.filter(
        station=station,
        csr_sha256=digest,
        certificate_type=certificate_type,
        revoked_at__isnull=True,
        not_after__gt=now,
    ).first()
    if again is not None:
        return again
    if certificate_type == Type.V2G:
        authority = selectors.authority_active(Purpose.V2G)
        if authority is None:
            logger.warning("no V2G CA to sign an SECC certificate", extra={"station_id": station.ocpp_id})
            raise PkiUnavailable(
                "No V2G CA: an ISO 15118 SECC certificate is signed by the CPO Sub-CA of the V2G PKI that EVs "
                "trust, never by the station CA. Import it with manage.py pki_import_ca --v2g."
            )
        crl_url = ""  # the V2G PKI publishes its revocations (OCSP), not this CSMS's CRL
    else:
        authority = authority_ensure(now=now)
        crl_url = f"{app_settings.PUBLIC_URL}{CRL_PATH}" if app_settings.PUBLIC_URL else ""
    ca_certificate, ca_key = _signing(authority)
    certificate = crypto.certificate_issue(
        request,
        ca_certificate=ca_certificate,
        ca_key=ca_key,
        valid_days=app_settings.CERTIFICATE_VALIDITY_DAYS,
        now=now,
        server_auth=certificate_type == Type.V2G,
        crl_url=crl_url,
    )
    issued = IssuedCertificate.objects.create(
        authority=authority,
        station=station,
        station_ocpp_id=station.ocpp_id,
        certificate_type=certificate_type,
        serial_number=crypto.serial_hex(certificate.serial_number),
        subject=crypto.subject_text(certificate.subject)[:255],
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        fingerprint_sha256=crypto.fingerprint(certificate),
        certificate_pem=crypto.pem(certificate),
        csr_sha256=digest,
        issued_at=now,
    )
    logger.info(
        "station certificate issued",
        extra={
            "station_id": station.ocpp_id,
            "serial": issued.serial_number,
            "not_after": issued.not_after.isoformat(),
        },
    )
    return issued


def certificate_chain(issued: IssuedCertificate) -> str:
    """The PEM chain CertificateSigned carries: the station's certificate, then its CA's unless that is a root
    (which the station holds as its CSMS root, or does not need), then the CAs above that up to the root (a V2G
    certificate's Sub-CA 2 and Sub-CA 1)."""
    authority = issued.authority
    ca = crypto.certificate_load(authority.certificate_pem)
    return (
        issued.certificate_pem + ("" if crypto.is_self_signed(ca) else authority.certificate_pem) + authority.chain_pem
    )


async def certificate_deliver(*, issued: IssuedCertificate, requested_by=None) -> IssuedCertificate:
    """Send the station its certificate (CertificateSigned) and record whether it took it. Never raises for the
    station's behaviour: an offline or silent station leaves the certificate ``failed``, to send again."""
    issued = await IssuedCertificate.objects.select_related("authority", "station").aget(pk=issued.pk)
    if issued.revoked_at is not None:
        raise ValueError("A revoked certificate is not sent to a station.")
    station = issued.station
    try:
        call = outbound.certificate_signed(
            station.ocpp_version or "1.6",
            certificate_chain=await sync_to_async(certificate_chain)(issued),
            certificate_type=issued.certificate_type,
        )
    except outbound.Unsupported as unsupported:
        return await _delivery_record(issued, Delivery.FAILED, str(unsupported), None)
    command = await station_call(station=station, action=call.action, payload=call.payload, requested_by=requested_by)
    if command.status != StationCommand.Status.ANSWERED:
        detail = command.error_description or f"The command ended {command.status}."
        return await _delivery_record(issued, Delivery.FAILED, detail, command)
    answer = outbound.answer_of(station.ocpp_version, command)
    delivery = Delivery.ACCEPTED if answer.accepted else Delivery.REJECTED
    return await _delivery_record(issued, delivery, f"The station answered {answer.status}.", command)


async def _delivery_record(issued, delivery: str, detail: str, command) -> IssuedCertificate:
    issued.delivery, issued.delivery_detail, issued.delivery_command = delivery, detail[:255], command
    await issued.asave(update_fields=["delivery", "delivery_detail", "delivery_command"])
    log = logger.info if delivery == Delivery.ACCEPTED else logger.warning
    log(
        "station certificate delivery",
        extra={"station_id": issued.station_ocpp_id, "serial": issued.serial_number, "delivery": delivery},
    )
    return issued


def certificate_deliver_sync(*, issued: IssuedCertificate, requested_by=None) -> IssuedCertificate:
    return async_to_sync(certificate_deliver)(issued=issued, requested_by=requested_by)


async def certificate_deliver_for_csr(*, station: Station, csr: str, certificate_type: str) -> IssuedCertificate | None:
    """After an accepted SignCertificate: send the certificate issued for that CSR (None if none was)."""
    issued = (
        await IssuedCertificate.objects.filter(
            station=station, csr_sha256=_csr_digest(csr), certificate_type=certificate_type, revoked_at__isnull=True
        )
        .order_by("-issued_at")
        .afirst()
    )
    return None if issued is None else await certificate_deliver(issued=issued)


# The certificates a station holds


@dataclass
class CertificateCommand:
    """A certificate command's outcome: the recorded command, the station's answer when it gave one, and (for a
    read) the certificates it now holds as far as we know."""

    command: StationCommand
    answer: outbound.Answer | None = None
    certificates: list[InstalledCertificate] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.answer is not None and self.answer.accepted

    @property
    def detail(self) -> str:
        if self.answer is not None:
            return f"The station answered {self.answer.status or self.answer.outcome}."
        return self.command.error_description or f"The command ended {self.command.status}."


def _send(station: Station, call: outbound.OutboundCall, requested_by, timeout) -> CertificateCommand:
    command = station_call_sync(
        station=station, action=call.action, payload=call.payload, requested_by=requested_by, timeout=timeout
    )
    answer = None
    if command.status == StationCommand.Status.ANSWERED:
        answer = outbound.answer_of(command.station.ocpp_version, command)
    return CertificateCommand(command=command, answer=answer)


def installed_certificates_read(
    *, station: Station, certificate_type: str | None = None, requested_by=None, timeout: float | None = None
) -> CertificateCommand:
    """Ask the station which certificates it holds (of ``certificate_type``; all when None, which a 1.6 station is
    asked type by type) and keep the answer as the station's installed certificates of the types read.
    Unsupported when its version has no such type."""
    version = station.ocpp_version or "1.6"
    types = [certificate_type] if certificate_type or version != "1.6" else list(READABLE_TYPES_16)
    results = []
    for asked in types:
        result = _send(
            station, outbound.installed_certificate_ids(version, certificate_type=asked), requested_by, timeout
        )
        if result.answer is None:
            return result
        _installed_store(station, asked, result)
        results.append(result)
    # The answer that found certificates, if any did (a 1.6 station may hold a CSMS root and no manufacturer's).
    result = next((r for r in results if r.answer.outcome == outbound.Outcome.ACCEPTED), results[-1])
    result.certificates = selectors.station_installed_certificates(station=station)
    return result


def _installed_store(station: Station, asked: str | None, result: CertificateCommand) -> None:
    now = timezone.now()
    found = result.answer.data.get("certificates") or []
    with transaction.atomic():
        replaced = InstalledCertificate.objects.filter(station=station)
        if asked is not None:
            replaced = replaced.filter(certificate_type=asked)
        replaced.delete()
        InstalledCertificate.objects.bulk_create(
            InstalledCertificate(
                station=station,
                certificate_type=entry["certificate_type"] or asked,
                hash_algorithm=entry["hash_algorithm"],
                issuer_name_hash=entry["issuer_name_hash"],
                issuer_key_hash=entry["issuer_key_hash"],
                serial_number=entry["serial_number"],
                children=entry["children"],
                read_at=now,
                read_command=result.command,
            )
            for entry in found
        )


def certificate_install(
    *,
    station: Station,
    certificate_type: str = InstalledCertificate.Type.CSMS_ROOT,
    certificate_pem: str | None = None,
    requested_by=None,
    timeout: float | None = None,
) -> CertificateCommand:
    """Install a root certificate on the station: ``certificate_pem``, or (by default) our CA's certificate.
    ValueError when the PEM is not a certificate; Unsupported when the station's version lacks the type."""
    pem = (
        crypto.pem(crypto.certificate_load(certificate_pem)) if certificate_pem else authority_ensure().certificate_pem
    )
    call = outbound.certificate_install(
        station.ocpp_version or "1.6", certificate_type=certificate_type, certificate=pem
    )
    return _send(station, call, requested_by, timeout)


def certificate_delete(
    *, station: Station, hash_data: dict, requested_by=None, timeout: float | None = None
) -> CertificateCommand:
    """Have the station delete one certificate (CertificateHashDataType, camelCase); once it has (or says it has no
    such certificate), it is no longer among the station's installed ones."""
    result = _send(
        station, outbound.certificate_delete(station.ocpp_version or "1.6", hash_data=hash_data), requested_by, timeout
    )
    if result.answer is not None and result.answer.outcome in (
        outbound.Outcome.ACCEPTED,
        outbound.Outcome.NOTHING_TO_DO,
    ):
        InstalledCertificate.objects.filter(
            station=station,
            serial_number=hash_data["serialNumber"],
            issuer_name_hash=hash_data["issuerNameHash"],
            issuer_key_hash=hash_data["issuerKeyHash"],
        ).delete()
    result.certificates = selectors.station_installed_certificates(station=station)
    return result


def certificate_renewal_request(
    *, station: Station, certificate_type: str = Type.CHARGING_STATION, requested_by=None, timeout: float | None = None
) -> CertificateCommand:
    """Have the station make a new key pair and send its CSR (1.6 ExtendedTriggerMessage, 2.0.1 TriggerMessage);
    its SignCertificate then goes the usual way. Unsupported when its version lacks the type."""
    call = outbound.certificate_renewal(station.ocpp_version or "1.6", certificate_type=certificate_type)
    return _send(station, call, requested_by, timeout)


# Revocation


def certificate_revoke(
    *, certificate: IssuedCertificate, reason: str = IssuedCertificate.Reason.UNSPECIFIED, revoked_by=None
) -> bool:
    """Revoke a certificate the CA issued: it goes on the CRL and every check of ours refuses it from now on.
    Revoking it again changes nothing (False)."""
    if reason not in IssuedCertificate.Reason.values:
        raise ValueError(f"Unknown revocation reason {reason!r}.")
    revoked = IssuedCertificate.objects.filter(pk=certificate.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revocation_reason=reason, revoked_by=revoked_by
    )
    certificate.refresh_from_db()
    if revoked:
        logger.warning(
            "station certificate revoked",
            extra={"station_id": certificate.station_ocpp_id, "serial": certificate.serial_number, "reason": reason},
        )
    return bool(revoked)


def crl_current(*, now: datetime | None = None) -> x509.CertificateRevocationList:
    """The active CA's CRL, signed now, valid CMS_PKI_CRL_VALIDITY_HOURS."""
    now = now or timezone.now()
    authority = authority_ensure(now=now)
    ca_certificate, ca_key = _signing(authority)
    revoked = [
        (crypto.serial_parse(item.serial_number), item.revoked_at, item.revocation_reason)
        for item in selectors.revoked_certificates(authority=authority)
    ]
    return crypto.crl_build(
        ca_certificate=ca_certificate,
        ca_key=ca_key,
        revoked=revoked,
        now=now,
        valid_for=timedelta(hours=app_settings.CRL_VALIDITY_HOURS),
    )


# Expiry alerts

STATION_EXPIRING = Alert.Kind.CERTIFICATE_EXPIRING
CA_EXPIRING = Alert.Kind.CA_CERTIFICATE_EXPIRING


def expiry_severity(not_after: datetime, now: datetime) -> str | None:
    """The alert a certificate valid until ``not_after`` deserves at ``now``: None, warning or critical."""
    left = not_after - now
    if left <= timedelta(days=app_settings.EXPIRY_CRITICAL_DAYS):
        return Alert.Severity.CRITICAL
    if left <= timedelta(days=app_settings.EXPIRY_WARNING_DAYS):
        return Alert.Severity.WARNING
    return None


def _expiry_summary(what: str, not_after: datetime, now: datetime) -> str:
    if not_after <= now:
        return f"{what} expired on {not_after:%Y-%m-%d %H:%M} UTC"
    return f"{what} expires on {not_after:%Y-%m-%d %H:%M} UTC, in {(not_after - now).days} days"


def expiry_conditions(*, now: datetime) -> list[Condition]:
    """A condition per station whose current certificate, or whose certificate's CA, expires within
    CMS_PKI_EXPIRY_WARNING_DAYS (critical within CMS_PKI_EXPIRY_CRITICAL_DAYS)."""
    conditions = []
    for issued in selectors.current_station_certificates().select_related("authority"):
        details = {"serial": issued.serial_number, "not_after": issued.not_after.isoformat()}
        severity = expiry_severity(issued.not_after, now)
        if severity is not None:
            summary = _expiry_summary(f"Station certificate {issued.serial_number}", issued.not_after, now)
            conditions.append(
                Condition(
                    issued.station_id, STATION_EXPIRING, severity, summary, f"cert:{issued.serial_number}", details
                )
            )
        authority = issued.authority
        severity = expiry_severity(authority.not_after, now)
        if severity is not None:
            summary = _expiry_summary(f"The CA of its certificate ({authority.name})", authority.not_after, now)
            details = {"ca_serial": authority.serial_number, "not_after": authority.not_after.isoformat()}
            conditions.append(
                Condition(issued.station_id, CA_EXPIRING, severity, summary, f"ca:{authority.serial_number}", details)
            )
    return conditions


@dataclass
class ExpiryEvaluation:
    opened: list[Alert] = field(default_factory=list)
    closed: list[Alert] = field(default_factory=list)


def certificate_expiry_alerts(*, now: datetime | None = None) -> ExpiryEvaluation:
    """Open an alert for each certificate about to expire that has none; close those whose certificate was
    renewed, revoked or whose station is gone. Idempotent: beat runs it daily, and any run may be repeated."""
    now = now or timezone.now()
    found = {(c.station_id, c.kind, c.subject): c for c in expiry_conditions(now=now)}
    result = ExpiryEvaluation()
    known = set()
    for alert in Alert.objects.filter(closed_at__isnull=True, kind__in=(STATION_EXPIRING, CA_EXPIRING)):
        key = (alert.station_id, alert.kind, alert.subject)
        known.add(key)
        if key in found:
            alert_keep_current(alert=alert, condition=found[key], now=now)
        elif alert_close(alert=alert, reason="The certificate was renewed or revoked.", now=now):
            result.closed.append(alert)
    for key, condition in found.items():
        if key not in known and (alert := alert_open(condition=condition, now=now)) is not None:
            result.opened.append(alert)
    authority = selectors.authority_active()
    if authority is not None and expiry_severity(authority.not_after, now) is not None:
        logger.warning(
            "certificate authority expiring", extra={"ca": authority.name, "not_after": authority.not_after.isoformat()}
        )
    return result
