"""OCPP 1.6 Core profile, authorization: Authorize, and the idTagInfo every idTag check answers with."""

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import Action

from accounts.services import Authorization, id_token_authorize
from stations.protocol.db import in_db_pool


def id_tag_info(authorization: Authorization) -> IdTagInfo:
    expiry = authorization.expires_at.isoformat() if authorization.expires_at else None
    return IdTagInfo(status=authorization.status, parent_id_tag=authorization.parent_id, expiry_date=expiry)


class AuthorizationHandlers:
    @on(Action.authorize)
    async def on_authorize(self, id_tag, **_):
        authorization = await in_db_pool(id_token_authorize)(token=id_tag, station=self.station)
        return call_result.Authorize(id_tag_info=id_tag_info(authorization))
