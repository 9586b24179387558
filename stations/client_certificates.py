"""Who a station's TLS client certificate says it is (OCPP security profile 3), from either deployment:

- daphne terminating TLS itself (the ``mtls:`` endpoint): the certificate OpenSSL verified against the CA file,
  in the scope's ASGI TLS extension;
- a TLS proxy that verified it (nginx, HAProxy), trusted only with ``BEHIND_TLS_PROXY=1``: the headers
  ``X-SSL-Client-Verify: SUCCESS`` and ``X-SSL-Client-Cert`` (URL-encoded PEM as nginx's
  ``$ssl_client_escaped_cert``, or base64 DER as HAProxy's ``ssl_c_der,base64``). The proxy must replace
  both headers on every request; the certificate is checked once more here against the CA file and its dates.
"""

import base64
import binascii
import datetime
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core import checks

from stations.app_settings import app_settings
from stations.protocol.handshake_denial import TLS_EXTENSION
from stations.protocol.tls_endpoint import pem_certificates

PROXY_VERIFY_HEADER = b"x-ssl-client-verify"
PROXY_CERTIFICATE_HEADER = b"x-ssl-client-cert"
# The subject fields CMS_OCPP_CLIENT_CERT_ID_FIELD may name (OCPP's certificate properties put the station id in CN).
SUBJECT_FIELDS = {
    "CN": NameOID.COMMON_NAME,
    "serialNumber": NameOID.SERIAL_NUMBER,
    "UID": NameOID.USER_ID,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
}


@dataclass(frozen=True)
class ClientCertificate:
    station_id: str  # the configured subject field's value; "" when the certificate has none
    refusal: str = ""  # why it cannot stand for any station (a forwarded certificate our CAs did not issue)
    certificate: x509.Certificate | None = None  # for the revocation checks, asked at login (in the database pool)


# Who may say a certificate is revoked: the pki app registers its CA's revocations in its AppConfig.ready, so a
# certificate the operator revoked is refused at the handshake although TLS verified it (stations imports no pki).
_revocation_checks: list[Callable[[x509.Certificate], bool]] = []


def revocation_check_register(check: Callable[[x509.Certificate], bool]) -> None:
    if check not in _revocation_checks:
        _revocation_checks.append(check)


def revocation_refusal(presented: ClientCertificate) -> str:
    """Why the certificate may no longer be trusted ("" when nothing revoked it). Reads the database."""
    if presented.certificate is not None and any(check(presented.certificate) for check in _revocation_checks):
        return "client certificate revoked"
    return ""


def client_certificates_configured() -> bool:
    """Whether this deployment verifies client certificates, without which security profile 3 is not offered."""
    return bool(app_settings.CLIENT_CA_FILE)


@checks.register(checks.Tags.security)
def client_certificate_settings_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A subject field we cannot read, or a CA file we cannot load, is found at start, not at a station's handshake."""
    problems = []
    if app_settings.CLIENT_CERT_ID_FIELD not in SUBJECT_FIELDS:
        problems.append(
            checks.Error(
                f"CMS_OCPP_CLIENT_CERT_ID_FIELD must be one of {', '.join(SUBJECT_FIELDS)}.", id="stations.E301"
            )
        )
    if app_settings.CLIENT_CA_FILE:
        try:
            pem_certificates(app_settings.CLIENT_CA_FILE)
        except (OSError, ValueError) as unreadable:
            problems.append(checks.Error(f"CMS_OCPP_CLIENT_CA_FILE: {unreadable}", id="stations.E302"))
    return problems


def presented_certificate(scope) -> ClientCertificate | None:
    """The verified client certificate of a handshake, or None when there is none (or none we may trust)."""
    chain = ((scope.get("extensions") or {}).get(TLS_EXTENSION) or {}).get("client_cert_chain") or ()
    if chain:
        certificate = x509.load_pem_x509_certificate(chain[0].encode())
        return ClientCertificate(station_id=subject_station_id(certificate), certificate=certificate)
    if not getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        return None  # anyone can send the proxy's headers to a daphne that is not behind one
    headers = {name.lower(): value for name, value in scope.get("headers", ())}
    forwarded = headers.get(PROXY_CERTIFICATE_HEADER, b"").strip()
    if headers.get(PROXY_VERIFY_HEADER, b"").strip() != b"SUCCESS" or not forwarded:
        return None
    certificate = forwarded_certificate(forwarded.decode("latin-1"))
    if certificate is None:
        return ClientCertificate(station_id="", refusal="the proxy forwarded a certificate that does not parse")
    return ClientCertificate(
        station_id=subject_station_id(certificate), refusal=issuance_problem(certificate), certificate=certificate
    )


def forwarded_certificate(value: str) -> x509.Certificate | None:
    """A proxy's certificate header: URL-encoded PEM (nginx) or base64 DER (HAProxy)."""
    text = unquote(value).strip()
    try:
        if text.startswith("-----BEGIN"):
            return x509.load_pem_x509_certificate(text.encode("ascii"))
        return x509.load_der_x509_certificate(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        return None


def subject_station_id(certificate: x509.Certificate) -> str:
    field = SUBJECT_FIELDS[app_settings.CLIENT_CERT_ID_FIELD]
    values = certificate.subject.get_attributes_for_oid(field)
    return str(values[0].value) if len(values) == 1 else ""


def issuance_problem(certificate: x509.Certificate, now: datetime.datetime | None = None) -> str:
    """Why a forwarded certificate is not one of ours ("" when it is): issued directly by a CA of the CA file, and
    within its dates. (daphne's own TLS has OpenSSL check the whole chain before the application sees anything.)"""
    path = app_settings.CLIENT_CA_FILE
    if not path:
        return "no CA file (CMS_OCPP_CLIENT_CA_FILE) to check the forwarded certificate against"
    now = now or datetime.datetime.now(datetime.UTC)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        return "the forwarded certificate is expired or not yet valid"
    try:
        authorities = _authorities(path, os.stat(path).st_mtime_ns)
    except (OSError, ValueError) as unreadable:
        return f"the CA file cannot be read: {unreadable}"
    for authority in authorities:
        try:
            certificate.verify_directly_issued_by(authority)
        except (InvalidSignature, ValueError, TypeError):  # another issuer, or another key type
            continue
        return ""
    return "the forwarded certificate is not issued by a CA of CMS_OCPP_CLIENT_CA_FILE"


@functools.lru_cache(maxsize=4)
def _authorities(path: str, modified_ns: int) -> tuple[x509.Certificate, ...]:
    """The CA file's certificates, read again when the file changes (its modification time is in the key)."""
    return tuple(pem_certificates(path))
