"""OCPP 2.0.1 functional block M, ISO 15118 certificate management (the station's side of Plug & Charge):
Get15118EVCertificate and GetCertificateStatus, forwarded to the contract provider by ``plugandcharge.services``.
Authorize with a contract certificate is C07, in ``authorization``."""

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.datatypes import StatusInfoType
from ocpp.v201.enums import Action

from plugandcharge import services
from plugandcharge.interface import OcspRequest
from stations.protocol.db import in_db_pool

# StatusInfoType: reasonCode string[20], additionalInfo string[512]; exiResponse string[7500], ocspResult string[5500].
MAX_REASON_LENGTH = 512
MAX_EXI_RESPONSE_LENGTH = 7500
MAX_OCSP_RESULT_LENGTH = 5500
TOO_LONG = services.Outcome(accepted=False, reason="The provider's answer is longer than OCPP carries.")


def ocsp_request(data: dict) -> OcspRequest:
    """An OCSPRequestDataType, as the library hands it (snake_case keys)."""
    return OcspRequest(
        hash_algorithm=data["hash_algorithm"],
        issuer_name_hash=data["issuer_name_hash"],
        issuer_key_hash=data["issuer_key_hash"],
        serial_number=data["serial_number"],
        responder_url=data["responder_url"],
    )


def _failure(outcome: services.Outcome) -> StatusInfoType:
    return StatusInfoType(reason_code="ProviderFailed", additional_info=outcome.reason[:MAX_REASON_LENGTH])


class PlugAndChargeHandlers:
    @on(Action.get_15118_ev_certificate)
    async def on_get_15118_ev_certificate(self, iso15118_schema_version, action, exi_request, **_):
        outcome = await in_db_pool(services.ev_certificate_get)(
            station=self.station, exi_request=exi_request, action=action, schema_version=iso15118_schema_version
        )
        if len(outcome.content) > MAX_EXI_RESPONSE_LENGTH:
            outcome = TOO_LONG
        if not outcome.accepted:
            return call_result.Get15118EVCertificate(status="Failed", exi_response="", status_info=_failure(outcome))
        return call_result.Get15118EVCertificate(status="Accepted", exi_response=outcome.content)

    @on(Action.get_certificate_status)
    async def on_get_certificate_status(self, ocsp_request_data, **_):
        outcome = await in_db_pool(services.certificate_status_get)(
            station=self.station, request=ocsp_request(ocsp_request_data)
        )
        if len(outcome.content) > MAX_OCSP_RESULT_LENGTH:
            outcome = TOO_LONG
        if not outcome.accepted:
            return call_result.GetCertificateStatus(status="Failed", status_info=_failure(outcome))
        return call_result.GetCertificateStatus(status="Accepted", ocsp_result=outcome.content)
