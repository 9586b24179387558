"""Reads of the pki app: the active CA, a station's certificates, and whether a certificate may be trusted.

``certificate_is_revoked`` and ``client_certificate_refusal`` are what TLS client authentication (security
profile 3) asks: a revoked certificate, or one not issued by a CA of ours, is refused.
"""

from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from django.utils import timezone

from pki import crypto
from pki.models import CertificateAuthority, InstalledCertificate, IssuedCertificate
from stations.models import Station

Purpose = CertificateAuthority.Purpose


def authority_active(purpose: str = Purpose.STATION) -> CertificateAuthority | None:
    return CertificateAuthority.objects.filter(is_active=True, purpose=purpose).first()


def certificate_is_revoked(serial: int | str) -> bool:
    """Whether the CA revoked the certificate with this serial number (an int, or hex as OCPP writes it).
    A serial the CA never issued is not revoked by it: ``client_certificate_refusal`` refuses those."""
    try:
        serial_text = crypto.serial_hex(crypto.serial_parse(serial))
    except ValueError:
        return False
    return IssuedCertificate.objects.filter(serial_number=serial_text, revoked_at__isnull=False).exists()


def certificate_revoked(certificate: x509.Certificate) -> bool:
    """Whether one of our CAs issued this certificate and revoked it (TLS verified it; the revocation is ours)."""
    issuers = CertificateAuthority.objects.values_list("certificate_pem", flat=True)
    ours = any(crypto.certificate_load(pem).subject == certificate.issuer for pem in issuers)
    return ours and certificate_is_revoked(certificate.serial_number)


def client_certificate_refusal(
    certificate: x509.Certificate | str, *, station_id: str | None = None, now: datetime | None = None
) -> str | None:
    """Why a station's client certificate (object or PEM) must be refused, or None when it is good: issued by
    one of our station CAs (signature checked; never the V2G CA's), within its validity, not revoked, and (given
    ``station_id``) its CN is that station's id."""
    if isinstance(certificate, str):
        try:
            certificate = crypto.certificate_load(certificate)
        except ValueError as error:
            return str(error)
    now = now or timezone.now()
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        return "The certificate is not valid at this time (expired, or not yet valid)."
    if not any(
        _issued_by(certificate, authority) for authority in CertificateAuthority.objects.filter(purpose=Purpose.STATION)
    ):
        return "The certificate was not issued by this CSMS's station CA."
    if certificate_is_revoked(certificate.serial_number):
        return "The certificate has been revoked."
    if station_id is not None:
        names = [str(a.value) for a in certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
        if names != [station_id]:
            return f"The certificate's CN is {names or 'missing'}, not the station's id {station_id!r}."
    return None


def _issued_by(certificate: x509.Certificate, authority: CertificateAuthority) -> bool:
    try:
        certificate.verify_directly_issued_by(crypto.certificate_load(authority.certificate_pem))
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def station_issued_certificates(*, station: Station):
    return IssuedCertificate.objects.filter(station=station).select_related("authority", "delivery_command")


def station_installed_certificates(*, station: Station) -> list[InstalledCertificate]:
    """The certificates the station last said it holds, each with ``is_ours``: whether it is our CA's own."""
    authority = authority_active()
    installed = list(InstalledCertificate.objects.filter(station=station))
    for certificate in installed:
        certificate.is_ours = installed_is_ours(certificate, authority)
    return installed


def revoked_certificates(*, authority: CertificateAuthority):
    return IssuedCertificate.objects.filter(authority=authority, revoked_at__isnull=False).order_by("revoked_at")


def current_station_certificates():
    """The newest certificate of each station and type that the station accepted and that is not revoked: the
    ones whose expiry matters (an older one was replaced)."""
    certificates = IssuedCertificate.objects.filter(
        delivery=IssuedCertificate.Delivery.ACCEPTED, revoked_at__isnull=True, station__isnull=False
    )
    return certificates.order_by("station_id", "certificate_type", "-issued_at").distinct(
        "station_id", "certificate_type"
    )


def installed_is_ours(installed: InstalledCertificate, authority: CertificateAuthority | None) -> bool:
    """Whether a certificate a station holds is our CA's own certificate (its CSMS root, as we installed it)."""
    if authority is None:
        return False
    ca = crypto.certificate_load(authority.certificate_pem)
    if installed.hash_algorithm not in ("SHA256", "SHA384", "SHA512"):
        return False
    ours = crypto.hash_data(ca, ca, installed.hash_algorithm)
    return (
        ours.serial_number == installed.serial_number.lower().lstrip("0")
        and ours.issuer_name_hash == installed.issuer_name_hash.lower()
        and ours.issuer_key_hash == installed.issuer_key_hash.lower()
    )
