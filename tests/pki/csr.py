"""CSRs as stations make them, good and bad, for the pki tests."""

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def organization() -> str:
    """The O our CA asks of a CSR: the same in this process and in the daphne process (both read the environment)."""
    from pki.app_settings import app_settings

    return app_settings.ORGANIZATION


def key_of(kind: str = "ec256"):
    """A fresh private key: ec256, ec384, ec521, rsa2048, rsa1024."""
    if kind.startswith("ec"):
        curve = {"ec256": ec.SECP256R1, "ec384": ec.SECP384R1, "ec521": ec.SECP521R1}[kind]()
        return ec.generate_private_key(curve)
    return rsa.generate_private_key(65537, int(kind.removeprefix("rsa")))


def csr_pem(common_name: str | None, *, key=None, organization: str | None = "") -> str:
    """A CSR for ``common_name``; ``organization`` "" is ours, None leaves O out."""
    key = key or key_of()
    organization = globals()["organization"]() if organization == "" else organization
    names = []
    if common_name is not None:
        names.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    if organization is not None:
        names.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    request = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names)).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM).decode()


def tampered(pem: str) -> str:
    """The same CSR with one byte of its signed part changed: its signature no longer verifies."""
    request = x509.load_pem_x509_csr(pem.encode())
    der = bytearray(request.public_bytes(serialization.Encoding.DER))
    subject = request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value.encode()
    at = der.index(subject)
    der[at] ^= 0x01  # "CP-1" → "BP-1": still a valid name, no longer the one signed
    return x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()


def certificates_of(chain: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(chain.encode())
