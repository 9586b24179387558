"""OCPP 2.0.1 functional block C, Authorization: Authorize, and the idTokenInfo every idToken check answers with.

The rules are 1.6's (``accounts.services.id_token_authorize``), applied to the idToken's value and type
together; a contract (eMAID) with its certificate, ISO 15118 Plug & Charge, is checked by ``plugandcharge`` first.
A NoAuthorization idToken (empty by definition: the station charges without identification,
its operator's choice) is accepted without a lookup. An accepted driver is shown their tariff (I01).
"""

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.datatypes import IdTokenInfoType, IdTokenType, MessageContentType
from ocpp.v201.enums import Action

from accounts.services import Authorization, id_token_authorize
from plugandcharge.services import contract_authorize
from sessions import costs
from stations.protocol.db import in_db_pool
from stations.protocol.v201.plug_and_charge import ocsp_request

NO_AUTHORIZATION = "NoAuthorization"
# 2.0.1 can say why a token is refused where 1.6 answers Invalid (see Authorization.reason).
STATUS_BY_REASON = {"unknown": "Unknown", "not_at_this_location": "NotAtThisLocation"}
# Shown to the driver on the charger's display (personalMessage), in the language given.
MESSAGES = {
    "Accepted": "Welcome.",
    "Blocked": "This card is blocked.",
    "Expired": "This card has expired.",
    "Invalid": "This card is not valid.",
    "Unknown": "This card is not known.",
    "NotAtThisLocation": "This card is not valid at this charger.",
    "ConcurrentTx": "This card is already charging elsewhere.",
}
LANGUAGE = "en"
# MessageContentType.content is string[512].
MAX_MESSAGE_LENGTH = 512


def id_token_info(authorization: Authorization, *, tariff: str | None = None) -> IdTokenInfoType:
    """The IdTokenInfoType of an authorisation: status, cache expiry, group and a message for the driver,
    with the ``tariff`` they charge at (``driver_tariff``) when accepted."""
    status = STATUS_BY_REASON.get(authorization.reason, authorization.status)
    message = MESSAGES.get(status, status)
    if tariff and status == "Accepted":
        message = f"{message} {tariff}"[:MAX_MESSAGE_LENGTH]
    return IdTokenInfoType(
        status=status,
        cache_expiry_date_time=authorization.expires_at.isoformat() if authorization.expires_at else None,
        # 1.6's parentIdTag; the group token is the CSMS's own, hence Central.
        group_id_token=IdTokenType(id_token=authorization.parent_id, type="Central")
        if authorization.parent_id
        else None,
        language_1=LANGUAGE,
        personal_message=MessageContentType(format="UTF8", content=message, language=LANGUAGE),
    )


async def authorize(*, id_token: dict, station, for_start: bool = False, evse_id: int | None = None) -> Authorization:
    """The authorisation of a 2.0.1 IdTokenType (snake_case keys)."""
    if id_token["type"] == NO_AUTHORIZATION:
        return Authorization(status="Accepted", reason="no_authorization")
    return await in_db_pool(id_token_authorize)(
        token=id_token["id_token"],
        token_type=id_token["type"],
        station=station,
        for_start=for_start,
        connector_id=evse_id,
    )


def driver_tariff(*, authorization: Authorization, station) -> str | None:
    """The tariff an accepted token's driver (its owner; none: the public one) charges at ``station``, in words."""
    if not authorization.accepted:
        return None
    owner = authorization.id_token.owner if authorization.id_token else None
    return costs.tariff_text(station=station, user=owner)


class AuthorizationHandlers:
    @on(Action.authorize)
    async def on_authorize(self, id_token, certificate=None, iso15118_certificate_hash_data=None, **_):
        certificate_status = None
        if certificate or iso15118_certificate_hash_data:
            # C07, Plug & Charge: a contract the station could not check itself; the provider checks it first.
            checked = await in_db_pool(contract_authorize)(
                station=self.station,
                token=id_token["id_token"],
                token_type=id_token["type"],
                certificate=certificate,
                ocsp_requests=[ocsp_request(data) for data in iso15118_certificate_hash_data or ()],
            )
            authorization, certificate_status = checked.authorization, checked.certificate_status
        else:
            authorization = await authorize(id_token=id_token, station=self.station)
        tariff = await in_db_pool(driver_tariff)(authorization=authorization, station=self.station)
        return call_result.Authorize(
            id_token_info=id_token_info(authorization, tariff=tariff), certificate_status=certificate_status
        )
