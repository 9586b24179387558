"""Business rules for drivers and their credentials, above all: may this ID token charge here?"""

from dataclasses import dataclass
from datetime import datetime

from accounts.models import IdToken


@dataclass(frozen=True)
class Authorization:
    """The answer to an authorisation request, in OCPP's AuthorizationStatus terms."""

    status: str  # Accepted, Blocked, Expired, Invalid, ConcurrentTx
    expires_at: datetime | None = None
    parent_id: str | None = None
    id_token: IdToken | None = None

    @property
    def accepted(self) -> bool:
        return self.status == IdToken.Status.ACCEPTED


def id_token_authorize(*, token: str, station=None, for_start: bool = False) -> Authorization:
    """Whether ``token`` may charge at ``station``.

    Unknown tokens are Invalid; a blocked or expired token (or one whose group is blocked) is refused.
    With ``for_start`` a token that already has a session in progress gets ConcurrentTx.
    """
    from sessions.models import Transaction

    id_token = IdToken.objects.select_related("parent").filter(token=token.strip().upper()).first()
    if id_token is None:
        return Authorization(status=IdToken.Status.INVALID)
    parent_id = id_token.parent.token if id_token.parent else None

    def answer(status):
        return Authorization(status=status, expires_at=id_token.expires_at, parent_id=parent_id, id_token=id_token)

    if id_token.status != IdToken.Status.ACCEPTED:
        return answer(id_token.status)
    if id_token.is_expired:
        return answer(IdToken.Status.EXPIRED)
    if id_token.parent and id_token.parent.status == IdToken.Status.BLOCKED:
        return answer(IdToken.Status.BLOCKED)
    if for_start and Transaction.objects.filter(id_token=id_token, status=Transaction.Status.ACTIVE).exists():
        return answer("ConcurrentTx")
    return answer(IdToken.Status.ACCEPTED)
