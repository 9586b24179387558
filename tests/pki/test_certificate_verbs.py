"""The certificate verbs of stations.protocol.outbound (no server, no database): each builds a call its version's
official schema accepts, or says why the version cannot; answers are read as neutral outcomes."""

import pytest
from ocpp.messages import MessageType

from stations.models import StationCommand
from stations.protocol import outbound
from stations.protocol.commands import payload_errors
from stations.protocol.outbound import Outcome, Unsupported

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
HASH = {"hashAlgorithm": "SHA256", "issuerNameHash": "ab" * 32, "issuerKeyHash": "cd" * 32, "serialNumber": "1f"}
HASH_FIELDS = {"hash_algorithm": "SHA256", "issuer_name_hash": "ab" * 32, "issuer_key_hash": "cd" * 32}

# Verb, arguments, the 1.6 call (None: 1.6 lacks it), the 2.0.1 call.
CALLS = [
    (
        outbound.certificate_signed,
        {"certificate_chain": PEM},
        ("CertificateSigned", {"certificateChain": PEM}),
        ("CertificateSigned", {"certificateChain": PEM, "certificateType": "ChargingStationCertificate"}),
    ),
    (
        outbound.certificate_signed,
        {"certificate_chain": PEM, "certificate_type": "V2GCertificate"},
        None,
        ("CertificateSigned", {"certificateChain": PEM, "certificateType": "V2GCertificate"}),
    ),
    (
        outbound.certificate_install,
        {"certificate_type": "CSMSRootCertificate", "certificate": PEM},
        ("InstallCertificate", {"certificateType": "CentralSystemRootCertificate", "certificate": PEM}),
        ("InstallCertificate", {"certificateType": "CSMSRootCertificate", "certificate": PEM}),
    ),
    (
        outbound.certificate_install,
        {"certificate_type": "ManufacturerRootCertificate", "certificate": PEM},
        ("InstallCertificate", {"certificateType": "ManufacturerRootCertificate", "certificate": PEM}),
        ("InstallCertificate", {"certificateType": "ManufacturerRootCertificate", "certificate": PEM}),
    ),
    (
        outbound.certificate_install,
        {"certificate_type": "V2GRootCertificate", "certificate": PEM},
        None,
        ("InstallCertificate", {"certificateType": "V2GRootCertificate", "certificate": PEM}),
    ),
    (
        outbound.certificate_delete,
        {"hash_data": HASH},
        ("DeleteCertificate", {"certificateHashData": HASH}),
        ("DeleteCertificate", {"certificateHashData": HASH}),
    ),
    (
        outbound.installed_certificate_ids,
        {"certificate_type": "CSMSRootCertificate"},
        ("GetInstalledCertificateIds", {"certificateType": "CentralSystemRootCertificate"}),
        ("GetInstalledCertificateIds", {"certificateType": ["CSMSRootCertificate"]}),
    ),
    (
        outbound.installed_certificate_ids,
        {},
        None,
        ("GetInstalledCertificateIds", {}),
    ),
    (
        outbound.certificate_renewal,
        {},
        ("ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}),
        ("TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"}),
    ),
    (
        outbound.certificate_renewal,
        {"certificate_type": "V2GCertificate"},
        None,
        ("TriggerMessage", {"requestedMessage": "SignV2GCertificate"}),
    ),
]
IDS = [f"{verb.__name__}-{index}" for index, (verb, *_rest) in enumerate(CALLS)]


@pytest.mark.parametrize(("verb", "arguments", "call_16", "call_201"), CALLS, ids=IDS)
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_each_certificate_verb_makes_the_call_the_schema_accepts_or_says_why_not(
    verb, arguments, call_16, call_201, version
):
    expected = call_16 if version == "1.6" else call_201
    if expected is None:
        with pytest.raises(Unsupported, match=r"1\.6"):
            verb(version, **arguments)
        return
    call = verb(version, **arguments)
    assert call == expected
    assert payload_errors(action=call.action, payload=call.payload, ocpp_version=version) == []


def answered(action: str, response: dict) -> StationCommand:
    return StationCommand(action=action, status=StationCommand.Status.ANSWERED, response=response)


ANSWERS = [
    ("1.6", "CertificateSigned", {"status": "Rejected"}, Outcome.REJECTED, {}),
    ("2.0.1", "CertificateSigned", {"status": "Accepted"}, Outcome.ACCEPTED, {}),
    ("1.6", "InstallCertificate", {"status": "Failed"}, Outcome.FAILED, {}),
    ("2.0.1", "InstallCertificate", {"status": "Accepted"}, Outcome.ACCEPTED, {}),
    ("1.6", "DeleteCertificate", {"status": "NotFound"}, Outcome.NOTHING_TO_DO, {}),
    ("2.0.1", "DeleteCertificate", {"status": "Failed"}, Outcome.FAILED, {}),
    ("1.6", "GetInstalledCertificateIds", {"status": "NotFound"}, Outcome.NOTHING_TO_DO, {"certificates": []}),
    (
        "1.6",
        "GetInstalledCertificateIds",
        {"status": "Accepted", "certificateHashData": [HASH]},
        Outcome.ACCEPTED,
        {"certificates": [{"certificate_type": None, **HASH_FIELDS, "serial_number": "1f", "children": []}]},
    ),
    (
        "2.0.1",
        "GetInstalledCertificateIds",
        {
            "status": "Accepted",
            "certificateHashDataChain": [
                {
                    "certificateType": "V2GCertificateChain",
                    "certificateHashData": HASH,
                    "childCertificateHashData": [{**HASH, "serialNumber": "20"}],
                }
            ],
        },
        Outcome.ACCEPTED,
        {
            "certificates": [
                {
                    "certificate_type": "V2GCertificateChain",
                    **HASH_FIELDS,
                    "serial_number": "1f",
                    "children": [{**HASH_FIELDS, "serial_number": "20"}],
                }
            ]
        },
    ),
    ("2.0.1", "GetInstalledCertificateIds", {"status": "NotFound"}, Outcome.NOTHING_TO_DO, {"certificates": []}),
    ("1.6", "ExtendedTriggerMessage", {"status": "NotImplemented"}, Outcome.NOT_SUPPORTED, {}),
]


@pytest.mark.parametrize(("version", "action", "response", "outcome", "data"), ANSWERS)
def test_certificate_answers_are_read_as_neutral_outcomes(version, action, response, outcome, data):
    assert (
        payload_errors(action=action, payload=response, ocpp_version=version, message_type=MessageType.CallResult) == []
    )
    answer = outbound.answer_of(version, answered(action, response))
    assert (answer.outcome, answer.status, answer.data) == (outcome, response["status"], data)
