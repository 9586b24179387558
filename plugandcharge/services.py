"""Plug & Charge services: what a station's ISO 15118 requests come to, whatever the provider behind them.

``contract_authorize`` is the rule of a Plug & Charge authorisation: the provider vouches for the contract
certificate, then the eMAID is an ID token like any other (``accounts.services.id_token_authorize``, type eMAID)
and must belong to an active account, so only known contracts of active customers charge, and their sessions are
theirs (the TransactionEvent carries the same eMAID). These run in a worker thread: providers may block.
"""

import base64
import functools
import logging
from dataclasses import dataclass

from django.utils.module_loading import import_string

from accounts.models import IdToken
from accounts.services import Authorization, id_token_authorize
from plugandcharge.app_settings import app_settings
from plugandcharge.interface import ContractProvider, ContractStatus, OcspRequest, ProviderError

logger = logging.getLogger(__name__)

# The token status a refused contract certificate gives (OCPP AuthorizationStatusEnumType).
REFUSED_CERTIFICATE_STATUS = {
    ContractStatus.CERTIFICATE_REVOKED: IdToken.Status.BLOCKED,
    ContractStatus.CONTRACT_CANCELLED: IdToken.Status.BLOCKED,
    ContractStatus.CERTIFICATE_EXPIRED: IdToken.Status.EXPIRED,
}
NO_PROVIDER = "Plug & Charge is off: no contract provider is configured (CMS_PNC_PROVIDER)."


@dataclass(frozen=True)
class Outcome:
    """A request forwarded to the provider: Accepted with what it answered, or Failed with the reason."""

    accepted: bool
    content: str = ""  # base64: the EXI response, the DER OCSP response
    reason: str = ""
    certificate_status: str = ""  # GetCertificateStatus: good, revoked, unknown


@dataclass(frozen=True)
class ContractAuthorization:
    authorization: Authorization
    certificate_status: ContractStatus | None  # None: the provider could not check it


@functools.cache
def _provider(path: str) -> ContractProvider:
    return import_string(path)()


def contract_provider() -> ContractProvider | None:
    """The configured provider (one instance per process), or None when Plug & Charge is off."""
    path = app_settings.PROVIDER
    return _provider(path) if path else None


def ev_certificate_get(*, station, exi_request: str, action: str, schema_version: str) -> Outcome:
    """Get15118EVCertificate: the EV's certificate installation or update request, answered by the provider."""
    provider = contract_provider()
    if provider is None:
        return Outcome(accepted=False, reason=NO_PROVIDER)
    try:
        exi_response = provider.ev_certificate(exi_request=exi_request, action=action, schema_version=schema_version)
    except ProviderError as error:
        logger.warning(
            "ev certificate request failed",
            extra={"station_id": station.ocpp_id, "action": action, "error": str(error)},
        )
        return Outcome(accepted=False, reason=str(error))
    logger.info("ev certificate provided", extra={"station_id": station.ocpp_id, "action": action})
    return Outcome(accepted=True, content=exi_response)


def certificate_status_get(*, station, request: OcspRequest) -> Outcome:
    """GetCertificateStatus: the provider's OCSP answer for one certificate, base64 for the station."""
    provider = contract_provider()
    if provider is None:
        return Outcome(accepted=False, reason=NO_PROVIDER)
    try:
        answer = provider.certificate_status(request=request)
    except ProviderError as error:
        logger.warning("certificate status failed", extra={"station_id": station.ocpp_id, "error": str(error)})
        return Outcome(accepted=False, reason=str(error))
    logger.info(
        "certificate status",
        extra={"station_id": station.ocpp_id, "serial": request.serial_number, "status": answer.status},
    )
    return Outcome(
        accepted=True,
        content=base64.b64encode(answer.ocsp_response).decode(),
        certificate_status=answer.status,
    )


def contract_authorize(
    *, station, token: str, token_type: str, certificate: str | None, ocsp_requests: list[OcspRequest]
) -> ContractAuthorization:
    """An Authorize with a contract certificate (or its OCSP data): the certificate by the provider, then the eMAID
    by the accounts rules; a contract certificate the provider refuses refuses the token."""
    provider = contract_provider()
    if provider is None:
        checked = ContractStatus.CERT_CHAIN_ERROR  # nothing to build a chain to: not trusted
    else:
        try:
            checked = provider.contract_check(emaid=token, certificate_pem=certificate, ocsp_requests=ocsp_requests)
        except ProviderError as error:
            logger.warning("contract check failed", extra={"station_id": station.ocpp_id, "error": str(error)})
            checked = None
        else:
            checked = checked.status
    if checked != ContractStatus.ACCEPTED:
        status = REFUSED_CERTIFICATE_STATUS.get(checked, IdToken.Status.INVALID)
        logger.info(
            "contract refused",
            extra={"station_id": station.ocpp_id, "id_token": token, "certificate_status": checked or "unchecked"},
        )
        # Unchecked (the provider failed): the station is told nothing about the certificate itself.
        return ContractAuthorization(Authorization(status=status, reason=f"contract_{checked or 'unchecked'}"), checked)
    authorization = id_token_authorize(token=token, token_type=token_type, station=station)
    owner = authorization.id_token.owner if authorization.id_token else None
    if authorization.accepted and (owner is None or not owner.is_active):
        logger.info("contract without an active account", extra={"station_id": station.ocpp_id, "id_token": token})
        authorization = Authorization(status=IdToken.Status.INVALID, reason="no_active_account")
    return ContractAuthorization(authorization, ContractStatus.ACCEPTED)
