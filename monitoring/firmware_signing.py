"""Firmware signatures: checked on upload against the file's SHA-256 and the signing certificate, or made with the
operator's own key (CMS_FIRMWARE_SIGNING_KEY with CMS_FIRMWARE_SIGNING_CERTIFICATE).

A station checks the same before installing (1.6 security extension, 2.0.1 L01): the base64 signature of the file's
SHA-256, by the key of the signing certificate (RSA PKCS#1 v1.5 or ECDSA). A pair that does not verify here would be
refused by every station (InvalidSignature), so it is refused at upload instead.
"""

import base64
import binascii
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from django.utils import timezone

from stations.app_settings import app_settings

# FirmwareType.signingCertificate is string[5500], FirmwareType.signature string[800] (1.6 extension and 2.0.1).
CERTIFICATE_MAX_LENGTH = 5500
SIGNATURE_MAX_LENGTH = 800
PREHASHED_SHA256 = utils.Prehashed(hashes.SHA256())


class SignatureRefused(ValueError):
    """The certificate or signature cannot be used; ``field`` names the one at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _certificate(pem: str, *, now: datetime) -> x509.Certificate:
    if len(pem) > CERTIFICATE_MAX_LENGTH:
        raise SignatureRefused("signing_certificate", f"At most {CERTIFICATE_MAX_LENGTH} characters (OCPP's limit).")
    try:
        # A chain may follow; the first certificate is the one that signed.
        certificate = x509.load_pem_x509_certificates(pem.encode())[0]
    except ValueError as error:
        raise SignatureRefused("signing_certificate", "Not a PEM certificate.") from error
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise SignatureRefused(
            "signing_certificate",
            f"The certificate is valid from {certificate.not_valid_before_utc:%Y-%m-%d} to "
            f"{certificate.not_valid_after_utc:%Y-%m-%d}, not now: stations would answer InvalidCertificate.",
        )
    return certificate


def signature_check(*, digest: bytes, certificate_pem: str, signature_b64: str, now: datetime | None = None) -> None:
    """SignatureRefused unless ``signature_b64`` is the signature of the SHA-256 ``digest`` by the certificate's key."""
    certificate = _certificate(certificate_pem.strip(), now=now or timezone.now())
    signature_b64 = "".join(signature_b64.split())
    if len(signature_b64) > SIGNATURE_MAX_LENGTH:
        raise SignatureRefused("signature", f"At most {SIGNATURE_MAX_LENGTH} characters (OCPP's limit).")
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except binascii.Error as error:
        raise SignatureRefused("signature", "Not base64.") from error
    key = certificate.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, digest, padding.PKCS1v15(), PREHASHED_SHA256)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(PREHASHED_SHA256))
        else:
            raise SignatureRefused("signing_certificate", "The certificate's key is neither RSA nor ECDSA.")
    except InvalidSignature as error:
        raise SignatureRefused(
            "signature", "The signature does not match the file's SHA-256 with this certificate's key."
        ) from error


def signing_configured() -> bool:
    return bool(app_settings.FIRMWARE_SIGNING_KEY and app_settings.FIRMWARE_SIGNING_CERTIFICATE)


def signature_make(*, digest: bytes) -> tuple[str, str]:
    """(signing certificate PEM, base64 signature) of the SHA-256 ``digest`` with the operator's configured key."""
    if not signing_configured():
        raise SignatureRefused("sign", "No signing key is configured (CMS_FIRMWARE_SIGNING_KEY).")
    key = serialization.load_pem_private_key(Path(app_settings.FIRMWARE_SIGNING_KEY).read_bytes(), password=None)
    certificate_pem = Path(app_settings.FIRMWARE_SIGNING_CERTIFICATE).read_text()
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(digest, padding.PKCS1v15(), PREHASHED_SHA256)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(digest, ec.ECDSA(PREHASHED_SHA256))
    else:
        raise SignatureRefused("sign", "The configured signing key is neither RSA nor ECDSA.")
    return certificate_pem, base64.b64encode(signature).decode()
