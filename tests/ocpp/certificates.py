"""Test certificates for security profile 3: a station CA, station client certificates (valid, expired, of another
CA, of another station) and a server certificate, written as PEM files with the `cryptography` library."""

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_path: Path
    key_path: Path

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


def _write(directory: Path, name: str, certificate, key) -> Issued:
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Issued(certificate, key, cert_path, key_path)


def certificate_authority(directory: Path, name: str) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - DAY)
        .not_valid_after(now + DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _write(directory, name.replace(" ", "-"), certificate, key)


def issue(directory: Path, ca: Issued, common_name: str, *, expired=False, server=False, name=None) -> Issued:
    """A leaf certificate signed by ``ca``: a station's client certificate (O, CN = station id), or a server's."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    start, end = (now - 3 * DAY, now - DAY) if expired else (now - DAY, now + DAY)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Voltgrid test CSO"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.certificate.public_key()), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return _write(directory, name or common_name, builder.sign(ca.key, hashes.SHA256()), key)


@dataclass(frozen=True)
class StationPki:
    server_ca: Issued  # what stations trust
    server: Issued
    station_ca: Issued  # what the CSMS trusts: CMS_OCPP_CLIENT_CA_FILE
    valid: Issued  # CN=CP-1 by the station CA
    expired: Issued
    other_ca: Issued  # CN=CP-1 by a CA the CSMS does not trust
    other_station: Issued  # CN=CP-2 by the station CA


def station_pki(directory: Path) -> StationPki:
    server_ca = certificate_authority(directory, "Test server CA")
    station_ca = certificate_authority(directory, "Test station CA")
    rogue_ca = certificate_authority(directory, "Test rogue CA")
    return StationPki(
        server_ca=server_ca,
        server=issue(directory, server_ca, "localhost", server=True, name="server"),
        station_ca=station_ca,
        valid=issue(directory, station_ca, "CP-1", name="cp1"),
        expired=issue(directory, station_ca, "CP-1", expired=True, name="cp1-expired"),
        other_ca=issue(directory, rogue_ca, "CP-1", name="cp1-rogue"),
        other_station=issue(directory, station_ca, "CP-2", name="cp2"),
    )
