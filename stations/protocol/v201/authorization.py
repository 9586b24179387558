"""OCPP 2.0.1 functional block C, Authorization: Authorize, and the idTokenInfo every idToken check answers with.

The rules are 1.6's (``accounts.services.id_token_authorize``), applied to the idToken's value whatever
its type. A NoAuthorization idToken (empty by definition: the station charges without identification,
its operator's choice) is accepted without a lookup.
"""

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.datatypes import IdTokenInfoType, IdTokenType, MessageContentType
from ocpp.v201.enums import Action

from accounts.services import Authorization, id_token_authorize
from stations.protocol.db import in_db_pool

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


def id_token_info(authorization: Authorization) -> IdTokenInfoType:
    """The IdTokenInfoType of an authorisation: status, cache expiry, group and a message for the driver."""
    status = STATUS_BY_REASON.get(authorization.reason, authorization.status)
    return IdTokenInfoType(
        status=status,
        cache_expiry_date_time=authorization.expires_at.isoformat() if authorization.expires_at else None,
        # 1.6's parentIdTag; the group token is the CSMS's own, hence Central.
        group_id_token=IdTokenType(id_token=authorization.parent_id, type="Central")
        if authorization.parent_id
        else None,
        language_1=LANGUAGE,
        personal_message=MessageContentType(format="UTF8", content=MESSAGES.get(status, status), language=LANGUAGE),
    )


async def authorize(*, id_token: dict, station, for_start: bool = False, evse_id: int | None = None) -> Authorization:
    """The authorisation of a 2.0.1 IdTokenType (snake_case keys): shared by Authorize and TransactionEvent."""
    if id_token["type"] == NO_AUTHORIZATION:
        return Authorization(status="Accepted", reason="no_authorization")
    return await in_db_pool(id_token_authorize)(
        token=id_token["id_token"], station=station, for_start=for_start, connector_id=evse_id
    )


class AuthorizationHandlers:
    @on(Action.authorize)
    async def on_authorize(self, id_token, **_):
        authorization = await authorize(id_token=id_token, station=self.station)
        return call_result.Authorize(id_token_info=id_token_info(authorization))
