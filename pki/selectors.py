"""Reads of the pki app: the active CA, a station's certificates, and whether one of them was revoked.

Security profile 3 trusts what TLS verified against CMS_OCPP_CLIENT_CA_FILE (daphne's ``mtls:`` endpoint, or a proxy
and then ``stations.client_certificates`` once more): the station CAs ``pki_export_ca`` writes there, never the V2G
CA, and certificate dates. The CSMS adds its own revocations: ``certificate_revoked``, registered with the login's
checks in ``pki.apps``; the login (``stations.security.station_login``) compares the CN with the station id.
"""

from cryptography import x509

from pki import crypto
from pki.models import CertificateAuthority, InstalledCertificate, IssuedCertificate
from stations.models import Station

Purpose = CertificateAuthority.Purpose


def authority_active(purpose: str = Purpose.STATION) -> CertificateAuthority | None:
    return CertificateAuthority.objects.filter(is_active=True, purpose=purpose).first()


def certificate_is_revoked(serial: int | str) -> bool:
    """Whether the CA revoked the certificate with this serial number (an int, or hex as OCPP writes it).
    A serial the CA never issued is not revoked by it (another CA's certificate is TLS's to refuse)."""
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
