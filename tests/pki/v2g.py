"""A V2G PKI as ISO 15118-2 draws it, for the SECC certificate tests: V2G root → CPO Sub-CA 1 → CPO Sub-CA 2,
the last imported (with Sub-CA 1 after it) as the CSMS's V2G CA."""

from dataclasses import dataclass
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.utils import timezone

from pki import crypto, services
from pki.models import CertificateAuthority


@dataclass(frozen=True)
class V2gPki:
    root: x509.Certificate
    sub_ca_1: x509.Certificate
    sub_ca_2: x509.Certificate
    authority: CertificateAuthority


def _ca(common_name: str, key, issuer: x509.Certificate | None, issuer_key, path_length: int) -> x509.Certificate:
    now = timezone.now()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def v2g_pki() -> V2gPki:
    """The chain, with Sub-CA 2 imported as the CSMS's active V2G CA (needs the database)."""
    root_key, key_1, key_2 = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _ca("V2G Root CA", root_key, None, root_key, 2)
    sub_ca_1 = _ca("CPO Sub-CA 1", key_1, root, root_key, 1)
    sub_ca_2 = _ca("CPO Sub-CA 2", key_2, sub_ca_1, key_1, 0)
    authority = services.authority_import(
        certificate_pem=crypto.pem(sub_ca_2) + crypto.pem(sub_ca_1),
        key_pem=crypto.key_encrypt(key_2, b"v2g"),
        key_passphrase=b"v2g",
        purpose=CertificateAuthority.Purpose.V2G,
    )
    return V2gPki(root, sub_ca_1, sub_ca_2, authority)
