"""The contract between Plug & Charge and a V2G PKI provider: the only types the two share.

A provider is a class named by CMS_PNC_PROVIDER, built without arguments (it reads its own settings), with the
three methods of ``ContractProvider``. A real V2G PKI (Hubject's, or another operator's) plugs in here: its
provider forwards the EV's EXI request to the PKI's certificate service, asks the OCSP responder named in the
request, and validates contract certificates against the V2G and MO roots it trusts. The test provider
(``providers.testing``) is the reference: a tiny deterministic PKI of its own.

Providers are called from a worker thread (they may block on the network) and raise ``ProviderError`` when they
cannot answer; the station is then told Failed with the reason.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum


class ProviderError(Exception):
    """The provider could not answer (unreachable, refused, a request it cannot read); the message says why."""


class CertificateStatus(StrEnum):
    """An OCSP answer's status of one certificate (RFC 6960)."""

    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


class ContractStatus(StrEnum):
    """The verdict on a contract certificate: OCPP 2.0.1 AuthorizeCertificateStatusEnumType."""

    ACCEPTED = "Accepted"
    SIGNATURE_ERROR = "SignatureError"
    CERTIFICATE_EXPIRED = "CertificateExpired"
    CERTIFICATE_REVOKED = "CertificateRevoked"
    NO_CERTIFICATE_AVAILABLE = "NoCertificateAvailable"
    CERT_CHAIN_ERROR = "CertChainError"
    CONTRACT_CANCELLED = "ContractCancelled"


@dataclass(frozen=True)
class OcspRequest:
    """One certificate to check by OCSP (OCPP OCSPRequestDataType): hashes and serial number in hexadecimal."""

    hash_algorithm: str  # SHA256, SHA384 or SHA512
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str
    responder_url: str


@dataclass(frozen=True)
class OcspAnswer:
    status: CertificateStatus
    ocsp_response: bytes  # the responder's DER OCSPResponse, handed to the station as it is


@dataclass(frozen=True)
class ContractCheck:
    status: ContractStatus
    emaid: str = ""  # the contract the certificate is for (its subject's CN), when it could be read


class ContractProvider(ABC):
    @abstractmethod
    def ev_certificate(self, *, exi_request: str, action: str, schema_version: str) -> str:
        """The base64 EXI response (CertificateInstallationRes or CertificateUpdateRes) to the EV's base64 EXI
        ``exi_request``; ``action`` is Install or Update, ``schema_version`` the ISO 15118 schema of the session."""

    @abstractmethod
    def certificate_status(self, *, request: OcspRequest) -> OcspAnswer:
        """The OCSP status of the certificate ``request`` describes, with the responder's signed answer."""

    @abstractmethod
    def contract_check(
        self, *, emaid: str, certificate_pem: str | None, ocsp_requests: list[OcspRequest]
    ) -> ContractCheck:
        """Whether the contract certificate of ``emaid`` is valid: its chain (``certificate_pem``, leaf first, when
        the station sent it) to a trusted root, and the status of each certificate of ``ocsp_requests`` (leaf
        first). The eMAID's account is not the provider's business: the accounts rules decide that."""
