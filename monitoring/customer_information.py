"""Customer information of OCPP 2.0.1 stations (functional block N, N09/N10): an operator asks a station to
report and/or clear what it keeps about one customer; the report comes back in NotifyCustomerInformation parts,
kept with the request until all of them have arrived."""

from datetime import datetime

from django.db import transaction

from monitoring.commanding import Sent, command_send
from monitoring.models import CustomerInformationRequest
from stations.models import Station
from stations.protocol import outbound

CUSTOMER_KEYS = frozenset({"idToken", "customerIdentifier", "customerCertificate"})
CERTIFICATE_FIELDS = ("hashAlgorithm", "issuerNameHash", "issuerKeyHash", "serialNumber")


class CustomerInformationError(ValueError):
    """The request cannot be sent as asked; the message says why."""


def customer_information_request(
    *,
    station: Station,
    report: bool,
    clear: bool,
    id_token: str = "",
    id_token_type: str = outbound.CSMS_TOKEN_TYPE,
    customer_identifier: str = "",
    customer_certificate: dict | None = None,
    requested_by=None,
) -> tuple[CustomerInformationRequest, Sent]:
    """Send the request (recorded first, so that no report part can arrive before its request is known)."""
    if not (report or clear):
        raise CustomerInformationError("Ask for a report, a clearing, or both.")
    certificate = {name: value for name, value in (customer_certificate or {}).items() if value}
    if certificate and set(certificate) != set(CERTIFICATE_FIELDS):
        raise CustomerInformationError("A customer certificate needs its hash algorithm, both hashes and serial.")
    given = [bool(id_token), bool(customer_identifier), bool(certificate)]
    if sum(given) != 1:
        raise CustomerInformationError("Name the customer by exactly one of ID token, identifier or certificate.")
    call = outbound.customer_information(
        station.ocpp_version,
        report=report,
        clear=clear,
        id_token=id_token or None,
        id_token_type=id_token_type,
        customer_identifier=customer_identifier or None,
        customer_certificate=certificate or None,
    )
    customer = {key: value for key, value in call.payload.items() if key in CUSTOMER_KEYS}
    request, _ = CustomerInformationRequest.objects.update_or_create(
        station=station,
        request_id=call.payload["requestId"],
        defaults={"report": report, "clear": clear, "customer": customer, "requested_by": requested_by},
    )
    sent = command_send(station=station, call=call, requested_by=requested_by)
    request.command = sent.command
    request.status = sent.answer.status if sent.answer is not None else sent.command.status
    request.save(update_fields=["command", "status"])
    return request, sent


@transaction.atomic
def customer_information_record(
    *, station: Station, request_id: int, seq_no: int, tbc: bool, data: str, generated_at: datetime
) -> CustomerInformationRequest:
    """One NotifyCustomerInformation part; a part of a request not ours (the station's own) is kept all the same."""
    request, _ = CustomerInformationRequest.objects.select_for_update().get_or_create(
        station=station, request_id=request_id
    )
    request.parts[str(seq_no)] = data
    if not tbc:
        request.last_seq_no = seq_no
    request.generated_at = generated_at
    request.save(update_fields=["parts", "last_seq_no", "generated_at"])
    return request
