"""The test provider: a tiny, deterministic V2G PKI of its own, for tests, the demo and a station simulator.

Its root and every contract's key are derived from fixed seeds, so the same eMAID always has the same key and
serial number: a test builds the station's Authorize from ``contract_certificate_pem`` and ``ocsp_request`` and
this provider recognises it in another process. It issues a contract for any eMAID, with these exceptions:
``REVOKED_CONTRACTS`` are revoked. It does not encode ISO 15118 EXI: Get15118EVCertificate is answered with the
DER of the contract certificate issued for the request, base64-encoded where the EXI response would be.

Never configure it in production: its keys are in this file.
"""

import base64
import binascii
import functools
import hashlib
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from plugandcharge.interface import (
    CertificateStatus,
    ContractCheck,
    ContractProvider,
    ContractStatus,
    OcspAnswer,
    OcspRequest,
    ProviderError,
)

CURVE = ec.SECP256R1()  # ISO 15118-2's curve
ROOT_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COMMON_NAME, "Voltgrid Test V2G Root"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Voltgrid test PKI"),
    ]
)
VALID_FROM = datetime(2020, 1, 1, tzinfo=UTC)
VALID_UNTIL = datetime(2050, 1, 1, tzinfo=UTC)
OCSP_RESPONDER_URL = "http://ocsp.test-pki.voltgrid.invalid/"
# Contracts this PKI has revoked: the refusal is shown with them.
REVOKED_CONTRACTS = frozenset({"DEVGRC00000666"})
REVOKED_AT = datetime(2024, 6, 1, tzinfo=UTC)
HASHES = {"SHA256": hashes.SHA256, "SHA384": hashes.SHA384, "SHA512": hashes.SHA512}


def emaid_canonical(emaid: str) -> str:
    """An eMAID as a contract certificate's CN has it: upper case, without the dashes people write."""
    return emaid.replace("-", "").strip().upper()


def _key(seed: str) -> ec.EllipticCurvePrivateKey:
    secret = int.from_bytes(hashlib.sha256(f"voltgrid-test-pki:{seed}".encode()).digest(), "big")
    return ec.derive_private_key(secret % (2**255 - 19) + 1, CURVE)


def contract_serial(emaid: str) -> int:
    return int.from_bytes(hashlib.sha256(f"contract:{emaid_canonical(emaid)}".encode()).digest()[:15], "big") | 1


@functools.cache
def root() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _key("root")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(ROOT_NAME)
        .issuer_name(ROOT_NAME)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(VALID_FROM)
        .not_valid_after(VALID_UNTIL)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


@functools.cache
def contract_certificate(emaid: str) -> x509.Certificate:
    """The contract certificate of ``emaid``: its CN is the eMAID, issued by the test root."""
    emaid = emaid_canonical(emaid)
    root_key, root_certificate = root()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, emaid)]))
        .issuer_name(root_certificate.subject)
        .public_key(_key(f"contract:{emaid}").public_key())
        .serial_number(contract_serial(emaid))
        .not_valid_before(VALID_FROM)
        .not_valid_after(VALID_UNTIL)
        .sign(root_key, hashes.SHA256())
    )


def contract_certificate_pem(emaid: str) -> str:
    return contract_certificate(emaid).public_bytes(serialization.Encoding.PEM).decode()


def _issuer_hashes(algorithm: str) -> tuple[str, str]:
    """The root's name and key hashes (RFC 6960 CertID) in hexadecimal."""
    certificate = root()[1]
    name = certificate.subject.public_bytes()
    key = certificate.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    digest = {"SHA256": hashlib.sha256, "SHA384": hashlib.sha384, "SHA512": hashlib.sha512}[algorithm]
    return digest(name).hexdigest(), digest(key).hexdigest()


def ocsp_request(emaid: str, algorithm: str = "SHA256") -> dict:
    """The OCPP OCSPRequestDataType (camelCase) a station sends for the contract certificate of ``emaid``."""
    name_hash, key_hash = _issuer_hashes(algorithm)
    return {
        "hashAlgorithm": algorithm,
        "issuerNameHash": name_hash,
        "issuerKeyHash": key_hash,
        "serialNumber": format(contract_serial(emaid), "x"),
        "responderURL": OCSP_RESPONDER_URL,
    }


def _revoked_serials() -> frozenset[int]:
    return frozenset(contract_serial(emaid) for emaid in REVOKED_CONTRACTS)


class TestingProvider(ContractProvider):
    """The ContractProvider of the test PKI (see the module's docstring)."""

    __test__ = False  # not a pytest test class, whatever its name

    def ev_certificate(self, *, exi_request: str, action: str, schema_version: str) -> str:
        try:
            request = base64.b64decode(exi_request, validate=True)
        except binascii.Error as error:
            raise ProviderError("The EXI request is not base64.") from error
        if not request:
            raise ProviderError("The EXI request is empty.")
        # The contract issued for this request: the same request, the same contract.
        number = int.from_bytes(hashlib.sha256(request).digest()[:8], "big") % 10**8
        certificate = contract_certificate(f"DEVGRC{number:08d}")
        return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()

    def certificate_status(self, *, request: OcspRequest) -> OcspAnswer:
        status, serial = self._status(request)
        root_key, root_certificate = root()
        now = datetime.now(UTC).replace(microsecond=0)
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=bytes.fromhex(request.issuer_name_hash),
            issuer_key_hash=bytes.fromhex(request.issuer_key_hash),
            serial_number=serial,
            algorithm=HASHES[request.hash_algorithm](),
            cert_status={
                CertificateStatus.GOOD: ocsp.OCSPCertStatus.GOOD,
                CertificateStatus.REVOKED: ocsp.OCSPCertStatus.REVOKED,
                CertificateStatus.UNKNOWN: ocsp.OCSPCertStatus.UNKNOWN,
            }[status],
            this_update=now,
            next_update=None,
            revocation_time=REVOKED_AT if status == CertificateStatus.REVOKED else None,
            revocation_reason=None,
        )
        response = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, root_certificate).sign(
            root_key, hashes.SHA256()
        )
        return OcspAnswer(status=status, ocsp_response=response.public_bytes(serialization.Encoding.DER))

    def _status(self, request: OcspRequest) -> tuple[CertificateStatus, int]:
        if request.hash_algorithm not in HASHES:
            raise ProviderError(f"Unknown hash algorithm {request.hash_algorithm!r}.")
        try:
            serial = int(request.serial_number, 16)
            lengths = {len(bytes.fromhex(request.issuer_name_hash)), len(bytes.fromhex(request.issuer_key_hash))}
        except ValueError as error:
            raise ProviderError("The serial number and hashes must be hexadecimal.") from error
        if lengths != {HASHES[request.hash_algorithm].digest_size}:
            raise ProviderError(f"The issuer hashes are not {request.hash_algorithm} hashes.")
        if (request.issuer_name_hash.lower(), request.issuer_key_hash.lower()) != _issuer_hashes(
            request.hash_algorithm
        ):
            return CertificateStatus.UNKNOWN, serial  # not issued by this PKI
        if serial in _revoked_serials():
            return CertificateStatus.REVOKED, serial
        return CertificateStatus.GOOD, serial

    def contract_check(
        self, *, emaid: str, certificate_pem: str | None, ocsp_requests: list[OcspRequest]
    ) -> ContractCheck:
        emaid = emaid_canonical(emaid)
        if certificate_pem:
            verdict = self._certificate_check(emaid, certificate_pem)
            if verdict != ContractStatus.ACCEPTED:
                return ContractCheck(verdict, emaid)
        elif not ocsp_requests:
            return ContractCheck(ContractStatus.NO_CERTIFICATE_AVAILABLE, emaid)
        for position, request in enumerate(ocsp_requests):
            status, serial = self._status(request)
            if status == CertificateStatus.UNKNOWN:
                return ContractCheck(ContractStatus.CERT_CHAIN_ERROR, emaid)
            if status == CertificateStatus.REVOKED:
                return ContractCheck(ContractStatus.CERTIFICATE_REVOKED, emaid)
            if position == 0 and serial != contract_serial(emaid):
                return ContractCheck(ContractStatus.CERT_CHAIN_ERROR, emaid)  # another contract's certificate
        return ContractCheck(ContractStatus.ACCEPTED, emaid)

    def _certificate_check(self, emaid: str, certificate_pem: str) -> ContractStatus:
        try:
            leaf = x509.load_pem_x509_certificates(certificate_pem.encode())[0]
        except ValueError:
            return ContractStatus.CERT_CHAIN_ERROR
        root_certificate = root()[1]
        if leaf.issuer != root_certificate.subject:
            return ContractStatus.CERT_CHAIN_ERROR
        try:
            root_certificate.public_key().verify(
                leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(leaf.signature_hash_algorithm)
            )
        except (InvalidSignature, TypeError):
            return ContractStatus.SIGNATURE_ERROR
        names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if not names or emaid_canonical(str(names[0].value)) != emaid:
            return ContractStatus.CERT_CHAIN_ERROR  # a valid certificate, of another contract
        if not leaf.not_valid_before_utc <= datetime.now(UTC) <= leaf.not_valid_after_utc:
            return ContractStatus.CERTIFICATE_EXPIRED
        if leaf.serial_number in _revoked_serials():
            return ContractStatus.CERTIFICATE_REVOKED
        return ContractStatus.ACCEPTED
