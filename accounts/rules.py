"""The authorisation rules as pure functions over loaded tokens: shared by id_token_authorize and the local list.

A token is refused when it, or any group above it (``parent``), is not Accepted or is past its expiry, or
when it or a group has an allow list (stations, sites) that does not include the station.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from accounts.models import IdToken

# Groups are a level or two deep in practice; the limit only guards against a cycle slipped in by hand.
MAX_GROUP_DEPTH = 10


@dataclass(frozen=True)
class Verdict:
    status: str
    reason: str = ""  # why it was refused: token_blocked, group_expired, not_at_this_location, ...
    expires_at: datetime | None = None


@dataclass
class RuleContext:
    """Everything the rules need about some tokens, loaded in a fixed number of queries."""

    tokens: dict[int, IdToken] = field(default_factory=dict)  # the tokens and all their groups, by pk
    allowed_stations: dict[int, set[int]] = field(default_factory=dict)
    allowed_sites: dict[int, set[int]] = field(default_factory=dict)

    def chain(self, id_token: IdToken) -> list[IdToken]:
        """The token followed by its groups, nearest first."""
        chain, seen, current = [id_token], {id_token.pk}, id_token
        while current.parent_id and current.parent_id not in seen and current.parent_id in self.tokens:
            current = self.tokens[current.parent_id]
            chain.append(current)
            seen.add(current.pk)
        return chain


def load_rule_context(id_tokens: list[IdToken], *, with_allow_lists: bool = True) -> RuleContext:
    context = RuleContext(tokens={token.pk: token for token in id_tokens})
    parent_field = IdToken._meta.get_field("parent")
    for token in id_tokens:  # groups already fetched with select_related("parent")
        if token.parent_id and parent_field.is_cached(token):
            context.tokens.setdefault(token.parent_id, token.parent)
    missing = {token.parent_id for token in context.tokens.values() if token.parent_id} - set(context.tokens)
    for _ in range(MAX_GROUP_DEPTH):
        if not missing:
            break
        groups = list(IdToken.objects.filter(pk__in=missing))
        context.tokens.update({group.pk: group for group in groups})
        missing = {group.parent_id for group in groups if group.parent_id} - set(context.tokens)
    if with_allow_lists:
        pks = list(context.tokens)
        for row in IdToken.allowed_stations.through.objects.filter(idtoken_id__in=pks).values_list(
            "idtoken_id", "station_id"
        ):
            context.allowed_stations.setdefault(row[0], set()).add(row[1])
        for row in IdToken.allowed_sites.through.objects.filter(idtoken_id__in=pks).values_list(
            "idtoken_id", "site_id"
        ):
            context.allowed_sites.setdefault(row[0], set()).add(row[1])
    return context


def _allowed_at(context: RuleContext, id_token: IdToken, station) -> bool:
    stations = context.allowed_stations.get(id_token.pk, set())
    sites = context.allowed_sites.get(id_token.pk, set())
    if not stations and not sites:
        return True
    return station.pk in stations or (station.site_id is not None and station.site_id in sites)


def token_verdict(id_token: IdToken, context: RuleContext, *, station=None, now: datetime | None = None) -> Verdict:
    """The status of ``id_token`` at ``station`` (anywhere when None), before any check of sessions in progress."""
    now = now or timezone.now()
    chain = context.chain(id_token)
    expiries = [token.expires_at for token in chain if token.expires_at is not None]
    expires_at = min(expiries) if expiries else None
    for depth, token in enumerate(chain):
        who = "token" if depth == 0 else "group"
        if token.status != IdToken.Status.ACCEPTED:
            return Verdict(token.status, f"{who}_{token.status.lower()}", expires_at)
        if token.expires_at is not None and token.expires_at <= now:
            return Verdict(IdToken.Status.EXPIRED, f"{who}_expired", expires_at)
    if station is not None and not all(_allowed_at(context, token, station) for token in chain):
        return Verdict(IdToken.Status.INVALID, "not_at_this_location", expires_at)
    return Verdict(IdToken.Status.ACCEPTED, "", expires_at)
