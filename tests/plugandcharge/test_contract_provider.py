"""The test provider's PKI and the Plug & Charge services on it, without a server: contract checks, OCSP answers
a standard OCSP reader accepts, certificate requests, and the authorisation rules (provider first, then the
eMAID's token and account)."""

import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from accounts.models import IdToken
from plugandcharge import services
from plugandcharge.interface import CertificateStatus, ContractStatus, OcspRequest, ProviderError
from plugandcharge.providers import testing
from plugandcharge.providers.testing import TestingProvider
from stations.protocol.v201.plug_and_charge import ocsp_request as from_wire

GOOD, REVOKED = "DEVGRC00000001", "DEVGRC00000666"
provider = TestingProvider()


def request_for(emaid, algorithm="SHA256", **changes) -> OcspRequest:
    data = {**testing.ocsp_request(emaid, algorithm), **changes}
    return OcspRequest(
        hash_algorithm=data["hashAlgorithm"],
        issuer_name_hash=data["issuerNameHash"],
        issuer_key_hash=data["issuerKeyHash"],
        serial_number=data["serialNumber"],
        responder_url=data["responderURL"],
    )


def test_the_pki_is_deterministic_across_processes():
    # The serial and key of a contract come from its eMAID alone: a station in another process builds the same.
    assert testing.contract_serial(GOOD) == testing.contract_serial("de-vgr-c00000001")
    assert testing._key("contract:X").private_numbers() == testing._key("contract:X").private_numbers()
    certificate = x509.load_pem_x509_certificate(testing.contract_certificate_pem(GOOD).encode())
    assert certificate.subject.rfc4514_string() == f"CN={GOOD}"
    testing.root()[1].public_key().verify(
        certificate.signature, certificate.tbs_certificate_bytes, ec.ECDSA(certificate.signature_hash_algorithm)
    )


@pytest.mark.parametrize("algorithm", ["SHA256", "SHA384", "SHA512"])
@pytest.mark.parametrize(
    ("emaid", "changes", "expected", "cert_status"),
    [
        (GOOD, {}, CertificateStatus.GOOD, ocsp.OCSPCertStatus.GOOD),
        (REVOKED, {}, CertificateStatus.REVOKED, ocsp.OCSPCertStatus.REVOKED),
        (GOOD, {"issuerKeyHash": "00"}, CertificateStatus.UNKNOWN, ocsp.OCSPCertStatus.UNKNOWN),
    ],
)
def test_ocsp_answers_are_signed_ocsp_responses_of_the_status(algorithm, emaid, changes, expected, cert_status):
    size = testing.HASHES[algorithm].digest_size
    changes = {name: value * size for name, value in changes.items()}  # another issuer's key hash
    answer = provider.certificate_status(request=request_for(emaid, algorithm, **changes))
    assert answer.status == expected
    response = ocsp.load_der_ocsp_response(answer.ocsp_response)
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status == cert_status
    assert response.serial_number == testing.contract_serial(emaid)
    testing.root()[1].public_key().verify(
        response.signature, response.tbs_response_bytes, ec.ECDSA(response.signature_hash_algorithm)
    )


def test_unreadable_ocsp_requests_are_provider_errors():
    with pytest.raises(ProviderError, match="hexadecimal"):
        provider.certificate_status(request=request_for(GOOD, serialNumber="not-hex"))
    with pytest.raises(ProviderError, match="not SHA384 hashes"):
        provider.certificate_status(request=request_for(GOOD, hashAlgorithm="SHA384"))


@pytest.mark.parametrize(
    ("emaid", "certificate_of", "requests_of", "expected"),
    [
        (GOOD, GOOD, [GOOD], ContractStatus.ACCEPTED),
        (GOOD, None, [GOOD], ContractStatus.ACCEPTED),
        (GOOD, GOOD, [], ContractStatus.ACCEPTED),
        (REVOKED, None, [REVOKED], ContractStatus.CERTIFICATE_REVOKED),
        (REVOKED, REVOKED, [], ContractStatus.CERTIFICATE_REVOKED),
        (GOOD, REVOKED, [], ContractStatus.CERT_CHAIN_ERROR),  # another contract's certificate
        (GOOD, None, [REVOKED], ContractStatus.CERTIFICATE_REVOKED),
        (GOOD, None, ["DEVGRC00000002"], ContractStatus.CERT_CHAIN_ERROR),
        (GOOD, None, [], ContractStatus.NO_CERTIFICATE_AVAILABLE),
    ],
)
def test_contract_checks(emaid, certificate_of, requests_of, expected):
    checked = provider.contract_check(
        emaid=emaid,
        certificate_pem=testing.contract_certificate_pem(certificate_of) if certificate_of else None,
        ocsp_requests=[request_for(other) for other in requests_of],
    )
    assert checked.status == expected


def test_a_certificate_of_another_pki_is_a_chain_error():
    from tests.monitoring.test_signed_firmware import signing_pair

    _, foreign = signing_pair()
    checked = provider.contract_check(emaid=GOOD, certificate_pem=foreign, ocsp_requests=[])
    assert checked.status == ContractStatus.CERT_CHAIN_ERROR


def test_an_ev_certificate_request_gets_the_same_contract_each_time():
    request = base64.b64encode(b"\x80\x98\x02CertificateInstallationReq").decode()
    first = provider.ev_certificate(exi_request=request, action="Install", schema_version="urn:iso:15118:2:2013:MsgDef")
    assert first == provider.ev_certificate(exi_request=request, action="Update", schema_version="")
    certificate = x509.load_der_x509_certificate(base64.b64decode(first))
    assert certificate.issuer == testing.root()[1].subject
    with pytest.raises(ProviderError, match="not base64"):
        provider.ev_certificate(exi_request="%%%", action="Install", schema_version="")


def test_the_wire_form_of_ocsp_data_is_read_field_by_field():
    snake = {
        "hash_algorithm": "SHA256",
        "issuer_name_hash": "a",
        "issuer_key_hash": "b",
        "serial_number": "c",
        "responder_url": "u",
    }
    assert from_wire(snake) == OcspRequest("SHA256", "a", "b", "c", "u")


# The services


@pytest.fixture
def pnc_on(settings):
    settings.CMS_PNC_PROVIDER = "plugandcharge.providers.testing.TestingProvider"


@pytest.fixture
def contract(db, driver):
    return IdToken.objects.create(token=GOOD, type=IdToken.Type.EMAID, owner=driver)


def authorize(station, emaid, *, hashes=True):
    return services.contract_authorize(
        station=station,
        token=emaid,
        token_type="eMAID",
        certificate=None if hashes else testing.contract_certificate_pem(emaid),
        ocsp_requests=[request_for(emaid)] if hashes else [],
    )


def test_a_known_contract_of_an_active_account_is_accepted_as_its_token(pnc_on, contract, make_station, driver):
    checked = authorize(make_station(), GOOD)
    assert checked.certificate_status == ContractStatus.ACCEPTED
    assert checked.authorization.accepted and checked.authorization.id_token.owner == driver


def test_a_revoked_contract_is_blocked_whatever_its_token(pnc_on, make_station, driver):
    IdToken.objects.create(token=REVOKED, type=IdToken.Type.EMAID, owner=driver)
    checked = authorize(make_station(), REVOKED, hashes=False)
    assert (checked.certificate_status, checked.authorization.status) == ("CertificateRevoked", "Blocked")


def test_a_valid_certificate_of_an_unknown_contract_is_refused_as_unknown(pnc_on, db, make_station):
    checked = authorize(make_station(), "DEVGRC00000777")
    assert checked.certificate_status == ContractStatus.ACCEPTED
    assert (checked.authorization.status, checked.authorization.reason) == ("Invalid", "unknown")


def test_a_contract_of_a_deactivated_account_is_refused(pnc_on, contract, make_station, driver):
    driver.is_active = False
    driver.save()
    checked = authorize(make_station(), GOOD)
    assert (checked.authorization.status, checked.authorization.reason) == ("Invalid", "no_active_account")


def test_without_a_provider_contract_certificates_are_not_trusted(contract, make_station):
    checked = authorize(make_station(), GOOD)
    assert (checked.certificate_status, checked.authorization.status) == ("CertChainError", "Invalid")
    outcome = services.ev_certificate_get(
        station=make_station("CP-2"), exi_request="AA==", action="Install", schema_version=""
    )
    assert not outcome.accepted and "CMS_PNC_PROVIDER" in outcome.reason
