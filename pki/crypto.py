"""The CA's cryptography, with no database: CSR checks, issuing, OCPP certificate hash data, CRLs, key storage.

Everything here takes and returns ``cryptography`` objects or PEM text; ``pki.services`` decides what is stored
and sent. Keys a station may certify (OCPP 2.0.1 part 2 §A00.3, the 1.6 security whitepaper §4.1): RSA of at
least 2048 bits, or EC on P-256 or P-384.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MIN_RSA_BITS = 2048
ACCEPTED_CURVES = (ec.SECP256R1, ec.SECP384R1)
# A certificate's validity starts a little before it is issued: stations' clocks run a few minutes early or late.
CLOCK_SKEW = timedelta(minutes=5)
PEM_CSR = re.compile(r"-----BEGIN (NEW )?CERTIFICATE REQUEST-----")


class CsrRefused(ValueError):
    """A CSR the CA will not sign; the message says why (it is logged and shown, never sent to the station)."""


@dataclass(frozen=True)
class CertificateHashData:
    """OCPP's CertificateHashDataType (both versions): the certificate named by its issuer and serial number."""

    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str


def serial_hex(serial: int) -> str:
    """A serial number as OCPP writes it: hexadecimal, lower case, no 0x and no leading zeros."""
    return format(serial, "x")


def serial_parse(value: int | str) -> int:
    """The serial number of ``serial_hex``'s text (or of an int); ValueError when it is not one."""
    if isinstance(value, int):
        return value
    text = value.strip().lower().removeprefix("0x").replace(":", "")
    if not text or len(text) > 40:
        raise ValueError(f"{value!r} is not a certificate serial number.")
    return int(text, 16)


def fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()


def _public_key_bits(public_key) -> bytes:
    """The subjectPublicKey BIT STRING's contents, as OCSP's issuerKeyHash (RFC 6960 §4.1.1) hashes them."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)


def hash_data(
    certificate: x509.Certificate, issuer: x509.Certificate, algorithm: str = "SHA256"
) -> CertificateHashData:
    """How a station names ``certificate`` (issued by ``issuer``; a root is its own issuer) in
    GetInstalledCertificateIds and DeleteCertificate."""
    digest = {"SHA256": hashlib.sha256, "SHA384": hashlib.sha384, "SHA512": hashlib.sha512}[algorithm]
    return CertificateHashData(
        hash_algorithm=algorithm,
        issuer_name_hash=digest(issuer.subject.public_bytes()).hexdigest(),
        issuer_key_hash=digest(_public_key_bits(issuer.public_key())).hexdigest(),
        serial_number=serial_hex(certificate.serial_number),
    )


def csr_load(text: str) -> x509.CertificateSigningRequest:
    """A CSR in PEM, or its base64 DER without the PEM lines (some stations send that); CsrRefused if neither."""
    text = (text or "").strip()
    if not PEM_CSR.search(text):
        body = "".join(text.split())
        text = f"-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----"
    try:
        return x509.load_pem_x509_csr(text.encode())
    except ValueError as error:
        raise CsrRefused(f"The CSR cannot be read: {error}") from None


def _name_values(name: x509.Name, oid) -> list[str]:
    return [str(attribute.value) for attribute in name.get_attributes_for_oid(oid)]


def csr_check(csr: x509.CertificateSigningRequest, *, common_name: str | None, organization: str = "") -> None:
    """CsrRefused unless the CSR is signed by its own key, that key is strong enough, its subject has one CN,
    ``common_name`` when given (the station's id; an ISO 15118 SECC certificate's is its SECC-ID, which we do not
    know) and, when ``organization`` is given, its O is that."""
    try:
        key = csr.public_key()
        signature_valid = csr.is_signature_valid
    except (UnsupportedAlgorithm, ValueError) as error:
        raise CsrRefused(f"The CSR's key or signature algorithm is not supported: {error}") from None
    if not signature_valid:
        raise CsrRefused("The CSR's signature does not verify against its own public key.")
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise CsrRefused(f"RSA key of {key.key_size} bits: at least {MIN_RSA_BITS} are required.")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ACCEPTED_CURVES):
            raise CsrRefused(f"EC key on {key.curve.name}: only secp256r1 (P-256) and secp384r1 (P-384) are accepted.")
    else:
        raise CsrRefused(f"A {type(key).__name__.removeprefix('_')} key: only RSA and EC keys are accepted.")
    names = _name_values(csr.subject, NameOID.COMMON_NAME)
    if len(names) != 1 or (common_name is not None and names != [common_name]):
        wanted = f"the station's id {common_name!r}" if common_name is not None else "exactly one"
        raise CsrRefused(f"The CSR's subject CN is {names or 'missing'}; it must be {wanted}.")
    if organization:
        organizations = _name_values(csr.subject, NameOID.ORGANIZATION_NAME)
        if organizations != [organization]:
            raise CsrRefused(f"The CSR's subject O is {organizations or 'missing'}; it must be {organization!r}.")


def _signing_hash(key) -> hashes.HashAlgorithm:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def ca_generate(*, common_name: str, organization: str, valid_days: int, now: datetime, rsa_bits: int = 0):
    """A new self-signed CA: (certificate, private key); EC P-256 unless ``rsa_bits`` asks for RSA."""
    key = rsa.generate_private_key(65537, rsa_bits) if rsa_bits else ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, _signing_hash(key))
    )
    return certificate, key


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def ca_check(certificate: x509.Certificate, key) -> None:
    """ValueError unless ``certificate`` is a CA certificate whose public key is ``key``'s (an import's check)."""
    if certificate.public_key().public_numbers() != key.public_key().public_numbers():
        raise ValueError("The private key is not the certificate's.")
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise ValueError("The certificate has no basic constraints: it is not a CA certificate.") from None
    if not constraints.ca:
        raise ValueError("The certificate is not a CA certificate (basic constraints CA:FALSE).")


def is_self_signed(certificate: x509.Certificate) -> bool:
    if certificate.issuer != certificate.subject:
        return False
    try:
        certificate.verify_directly_issued_by(certificate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def certificate_issue(
    csr: x509.CertificateSigningRequest,
    *,
    ca_certificate: x509.Certificate,
    ca_key,
    valid_days: int,
    now: datetime,
    server_auth: bool = False,
    crl_url: str = "",
) -> x509.Certificate:
    """A station certificate for a checked CSR: its subject and key, for TLS client authentication (or, for an
    ISO 15118 SECC certificate, ``server_auth``: the SECC is the TLS server to the EV, and never a client),
    expiring no later than the CA."""
    not_after = min(now + timedelta(days=valid_days), ca_certificate.not_valid_after_utc)
    usages = [ExtendedKeyUsageOID.SERVER_AUTH if server_auth else ExtendedKeyUsageOID.CLIENT_AUTH]
    is_rsa = isinstance(csr.public_key(), rsa.RSAPublicKey)
    builder = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca_certificate.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=is_rsa,
                data_encipherment=False,
                key_agreement=not is_rsa,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_certificate.public_key()), critical=False)
    )
    if crl_url:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    return builder.sign(ca_key, _signing_hash(ca_key))


def crl_build(
    *, ca_certificate: x509.Certificate, ca_key, revoked: list[tuple[int, datetime, str]], now: datetime, valid_for
) -> x509.CertificateRevocationList:
    """The CA's CRL of ``revoked`` (serial, revoked at, reason: an ``x509.ReasonFlags`` value), numbered by time so
    that each one published outranks the one before."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_certificate.subject)
        .last_update(now)
        .next_update(now + valid_for)
        .add_extension(x509.CRLNumber(int(now.timestamp() * 1000)), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_certificate.public_key()), critical=False)
    )
    for serial, revoked_at, reason in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(revoked_at)
        if reason and reason != x509.ReasonFlags.unspecified.value:
            entry = entry.add_extension(x509.CRLReason(x509.ReasonFlags(reason)), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(ca_key, _signing_hash(ca_key))


def key_encrypt(key, passphrase: bytes) -> str:
    """The private key as encrypted PKCS#8 PEM, the only form in which it is stored."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    ).decode()


def key_decrypt(pem: str, passphrase: bytes):
    return serialization.load_pem_private_key(pem.encode(), password=passphrase)


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def certificate_load(text: str) -> x509.Certificate:
    """One PEM certificate; ValueError saying so when ``text`` is none."""
    try:
        return x509.load_pem_x509_certificate((text or "").strip().encode())
    except ValueError as error:
        raise ValueError(f"Not a PEM certificate: {error}") from None


def subject_text(name: x509.Name) -> str:
    return name.rfc4514_string()
