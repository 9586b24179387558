"""The CA's cryptography on its own (no database, no server): which CSRs it signs, what it issues, how OCPP names a
certificate, the CRL, and the CA key's storage."""

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import given
from hypothesis import strategies as st

from pki import crypto
from pki.crypto import CsrRefused
from tests.pki.csr import csr_pem, key_of, tampered

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
ORG = "Test Operator"


@pytest.fixture(scope="module")
def ca():
    return crypto.ca_generate(common_name="Test CA", organization=ORG, valid_days=3650, now=NOW)


def check(pem: str, common_name="CP-1", organization=ORG):
    crypto.csr_check(crypto.csr_load(pem), common_name=common_name, organization=organization)


@pytest.mark.parametrize("kind", ["ec256", "ec384", "rsa2048"])
def test_a_station_csr_with_a_strong_key_and_its_own_id_passes(kind):
    check(csr_pem("CP-1", key=key_of(kind), organization=ORG))


@pytest.mark.parametrize(
    ("pem", "reason"),
    [
        (lambda: csr_pem("CP-2", organization=ORG), "must be the station's id 'CP-1'"),
        (lambda: csr_pem(None, organization=ORG), "CN is missing"),
        (lambda: csr_pem("CP-1", organization="Someone else"), "must be 'Test Operator'"),
        (lambda: csr_pem("CP-1", key=key_of("rsa1024"), organization=ORG), "RSA key of 1024 bits"),
        (lambda: csr_pem("CP-1", key=key_of("ec521"), organization=ORG), "secp521r1"),
        (lambda: tampered(csr_pem("CP-1", organization=ORG)), "signature does not verify"),
        (
            lambda: "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgQ1NS\n-----END CERTIFICATE REQUEST-----",
            "cannot be read",
        ),
        (lambda: "", "cannot be read"),
    ],
    ids=["wrong CN", "no CN", "wrong O", "weak RSA", "P-521", "bad signature", "not DER", "empty"],
)
def test_a_bad_csr_is_refused_with_the_reason(pem, reason):
    with pytest.raises(CsrRefused, match=reason):
        check(pem())


def test_a_csr_with_a_key_type_we_do_not_sign_is_refused():
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "CP-1")])
    request = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, None)
    with pytest.raises(CsrRefused, match="only RSA and EC keys"):
        check(request.public_bytes(serialization.Encoding.PEM).decode())


def test_a_csr_without_its_pem_lines_is_read_too():
    pem = csr_pem("CP-1", organization=ORG)
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    check(body)


def test_the_v2g_certificate_needs_one_cn_whatever_it_is():
    crypto.csr_check(crypto.csr_load(csr_pem("DEABCS0000000000000000000000000000001")), common_name=None)
    with pytest.raises(CsrRefused, match="exactly one"):
        crypto.csr_check(crypto.csr_load(csr_pem(None)), common_name=None)


@pytest.mark.parametrize("kind", ["ec256", "rsa2048"])
def test_an_issued_certificate_chains_to_the_ca_and_serves_tls_client_authentication(ca, kind):
    ca_certificate, ca_key = ca
    key = key_of(kind)
    request = crypto.csr_load(csr_pem("CP-1", key=key, organization=ORG))
    issued = crypto.certificate_issue(
        request, ca_certificate=ca_certificate, ca_key=ca_key, valid_days=365, now=NOW, crl_url="https://c/pki/crl.der"
    )
    issued.verify_directly_issued_by(ca_certificate)
    assert issued.subject == request.subject
    assert issued.public_key().public_numbers() == key.public_key().public_numbers()
    assert issued.not_valid_after_utc == NOW + timedelta(days=365)
    usages = issued.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not issued.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    points = issued.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value == "https://c/pki/crl.der"


def test_a_certificate_never_outlives_its_ca(ca):
    ca_certificate, ca_key = ca
    request = crypto.csr_load(csr_pem("CP-1", organization=ORG))
    issued = crypto.certificate_issue(request, ca_certificate=ca_certificate, ca_key=ca_key, valid_days=99999, now=NOW)
    assert issued.not_valid_after_utc == ca_certificate.not_valid_after_utc


def test_hash_data_names_the_issuer_as_ocsp_does(ca):
    ca_certificate, _ = ca
    data = crypto.hash_data(ca_certificate, ca_certificate)
    assert data.issuer_name_hash == hashlib.sha256(ca_certificate.subject.public_bytes()).hexdigest()
    spki = ca_certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # The EC point is the SubjectPublicKeyInfo's last 65 bytes (the BIT STRING's contents).
    assert data.issuer_key_hash == hashlib.sha256(spki[-65:]).hexdigest()
    assert data.serial_number == format(ca_certificate.serial_number, "x")
    assert (
        crypto.hash_data(ca_certificate, ca_certificate, "SHA384").issuer_name_hash
        == hashlib.sha384(ca_certificate.subject.public_bytes()).hexdigest()
    )


@given(serial=st.integers(min_value=1, max_value=2**159 - 1))
def test_a_serial_number_reads_back_from_how_ocpp_writes_it(serial):
    text = crypto.serial_hex(serial)
    assert text == text.lower() and not text.startswith("0")
    assert crypto.serial_parse(text) == serial
    assert crypto.serial_parse("0x" + text.upper()) == serial
    assert crypto.serial_parse(serial) == serial


@pytest.mark.parametrize("text", ["", "xyz", "1" * 41])
def test_a_serial_number_that_is_none_is_refused(text):
    with pytest.raises(ValueError):
        crypto.serial_parse(text)


def test_the_crl_lists_revoked_serials_with_their_reason_and_verifies(ca):
    ca_certificate, ca_key = ca
    revoked = [(0xABC, NOW - timedelta(days=1), "keyCompromise"), (0xDEF, NOW, "unspecified")]
    crl = crypto.crl_build(
        ca_certificate=ca_certificate, ca_key=ca_key, revoked=revoked, now=NOW, valid_for=timedelta(hours=24)
    )
    assert crl.is_signature_valid(ca_certificate.public_key())
    assert crl.next_update_utc == NOW + timedelta(hours=24)
    entry = crl.get_revoked_certificate_by_serial_number(0xABC)
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    assert crl.get_revoked_certificate_by_serial_number(0xDEF) is not None
    assert crl.get_revoked_certificate_by_serial_number(0x123) is None


def test_the_ca_key_is_stored_encrypted_and_opens_only_with_its_passphrase(ca):
    _, ca_key = ca
    stored = crypto.key_encrypt(ca_key, b"right passphrase")
    assert "ENCRYPTED PRIVATE KEY" in stored
    assert crypto.key_decrypt(stored, b"right passphrase").private_numbers() == ca_key.private_numbers()
    with pytest.raises(ValueError):
        crypto.key_decrypt(stored, b"wrong passphrase")


def test_an_imported_ca_must_be_a_ca_and_match_its_key(ca):
    ca_certificate, ca_key = ca
    crypto.ca_check(ca_certificate, ca_key)
    with pytest.raises(ValueError, match="not the certificate's"):
        crypto.ca_check(ca_certificate, key_of())
    leaf_key = key_of()
    leaf = crypto.certificate_issue(
        crypto.csr_load(csr_pem("CP-1", key=leaf_key, organization=ORG)),
        ca_certificate=ca_certificate,
        ca_key=ca_key,
        valid_days=1,
        now=NOW,
    )
    with pytest.raises(ValueError, match="not a CA certificate"):
        crypto.ca_check(leaf, leaf_key)
    assert crypto.is_self_signed(ca_certificate) and not crypto.is_self_signed(leaf)
