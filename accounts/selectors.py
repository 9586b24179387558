"""Reads of accounts data: a driver's own tokens and sessions, a token's history, the local authorization list."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet

from accounts.models import IdToken, IdTokenClaim, IdTokenEvent, LocalListVersion, StationLocalList, normalize_token
from accounts.rules import load_rule_context, token_verdict


def driver_pending_claims(*, user) -> QuerySet[IdTokenClaim]:
    return IdTokenClaim.objects.filter(user=user, status=IdTokenClaim.Status.PENDING).select_related("id_token")


def driver_id_tokens(*, user) -> QuerySet[IdToken]:
    """The tokens ``user`` owns; every driver-facing lookup of a token starts here (others' are not found)."""
    return IdToken.objects.filter(owner=user).select_related("parent")


def driver_transactions(*, user) -> QuerySet:
    """The sessions charged to ``user``; every driver-facing lookup of a session starts here."""
    from sessions.models import Transaction

    return Transaction.objects.filter(user=user).select_related(
        "station", "station__site", "id_token", "charge__invoice", "charge__tariff"
    )


def id_token_events(*, id_token: IdToken) -> QuerySet[IdTokenEvent]:
    return IdTokenEvent.objects.filter(id_token=id_token).select_related("station", "actor")


def id_token_transactions(*, id_token: IdToken) -> QuerySet:
    from sessions.models import Transaction

    return Transaction.objects.filter(id_token=id_token).select_related("station", "user")


def id_token_stats(*, id_token: IdToken) -> dict:
    """Counts for a token's history page: sessions, authorisations and how many of those were refused."""
    from sessions.models import Transaction

    authorizations = IdTokenEvent.objects.filter(id_token=id_token, kind=IdTokenEvent.Kind.AUTHORIZATION).aggregate(
        total=Count("id"), refused=Count("id", filter=~Q(status=IdToken.Status.ACCEPTED))
    )
    return {
        "sessions": Transaction.objects.filter(id_token=id_token).count(),
        "authorizations": authorizations["total"],
        "refused": authorizations["refused"],
    }


def authorization_events(
    *, outcome: str = "", station=None, search: str = "", message: str = ""
) -> QuerySet[IdTokenEvent]:
    """Authorisation outcomes, newest first. ``outcome``: accepted, refused or unknown (tokens never issued);
    ``message``: the station's message that asked (an IdTokenEvent.Message)."""
    events = IdTokenEvent.objects.filter(kind=IdTokenEvent.Kind.AUTHORIZATION).select_related(
        "station", "id_token", "session"
    )
    if message:
        events = events.filter(message=message)
    if outcome == "accepted":
        events = events.filter(status=IdToken.Status.ACCEPTED)
    elif outcome == "refused":
        events = events.exclude(status=IdToken.Status.ACCEPTED)
    elif outcome == "unknown":
        events = events.filter(note="unknown")
    if station is not None:
        events = events.filter(station=station)
    if search:
        events = events.filter(token__icontains=search.strip())
    return events


@dataclass(frozen=True)
class LocalListEntry:
    """One entry of a station's local authorization list (SendLocalList), in OCPP terms."""

    token: str
    type: str
    status: str
    expires_at: datetime | None
    parent_id: str | None


@dataclass(frozen=True)
class StationLocalListState:
    """A station's local list for its page: where its sync stands (None: never synced) and the version to reach."""

    state: StationLocalList | None
    current_version: int

    @property
    def behind(self) -> bool:
        return self.state is None or self.state.synced_version != self.current_version


def station_local_list_state(*, station) -> StationLocalListState:
    return StationLocalListState(
        state=StationLocalList.objects.filter(station=station).first(), current_version=local_list_version().version
    )


def local_list_version() -> LocalListVersion:
    """The current version (``version``) and from which version on only a full update is correct."""
    return LocalListVersion.objects.filter(pk=1).first() or LocalListVersion(pk=1)


def local_list_entries(*, station, since_version: int | None = None) -> list[LocalListEntry]:
    """The entries for ``station``: every token (full update), or those changed after ``since_version``.

    Each entry says what ``id_token_authorize`` would answer at this station, so a token another station
    is restricted to appears here as Invalid. Sessions in progress (ConcurrentTx) are not a list matter.
    """
    id_tokens = IdToken.objects.all()
    if since_version is not None:
        id_tokens = id_tokens.filter(list_version__gt=since_version)
    id_tokens = list(id_tokens)
    context = load_rule_context(id_tokens)
    entries = []
    for id_token in id_tokens:
        verdict = token_verdict(id_token, context, station=station)
        parent = context.tokens.get(id_token.parent_id)
        entries.append(
            LocalListEntry(
                token=id_token.token,
                type=id_token.type,
                status=verdict.status,
                expires_at=verdict.expires_at,
                parent_id=parent.token if parent else None,
            )
        )
    return entries


def id_tokens_for_staff(*, filters: dict) -> QuerySet[IdToken]:
    """The operator's token list: ``q`` searches number, name and owner e-mail; status, type, driver, group filter."""
    id_tokens = IdToken.objects.select_related("owner", "parent").annotate(
        pending_claims=Count("claims", filter=Q(claims__status=IdTokenClaim.Status.PENDING))
    )
    if filters.get("q"):
        term = filters["q"].strip()
        id_tokens = id_tokens.filter(
            Q(token__icontains=term) | Q(label__icontains=term) | Q(owner__email__icontains=term)
        )
    if filters.get("status"):
        id_tokens = id_tokens.filter(status=filters["status"])
    if filters.get("type"):
        id_tokens = id_tokens.filter(type=filters["type"])
    if filters.get("driver"):
        id_tokens = id_tokens.filter(owner__email__icontains=filters["driver"].strip())
    if filters.get("group"):
        id_tokens = id_tokens.filter(parent__token=normalize_token(filters["group"]))
    return id_tokens.order_by("token")


def pending_claims(*, id_token: IdToken | None = None) -> QuerySet[IdTokenClaim]:
    claims = IdTokenClaim.objects.filter(status=IdTokenClaim.Status.PENDING).select_related("id_token", "user")
    return claims.filter(id_token=id_token) if id_token is not None else claims
