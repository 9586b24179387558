"""Business rules for drivers and their credentials, above all: may this ID token charge here?

Every change to a token goes through ``id_token_create`` / ``id_token_update`` / ``id_tokens_delete``
(admin, portal, API, CSV import and management commands alike): they validate, record an
``IdTokenEvent`` for the token's history and advance the local authorization list version.
"""

import contextlib
import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Q, Subquery
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework.authtoken.models import Token

from accounts.app_settings import app_settings
from accounts.csv_import import TokenRow, read_token_rows
from accounts.models import IdToken, IdTokenClaim, IdTokenEvent, LocalListVersion, normalize_token
from accounts.roles import user_roles
from accounts.rules import load_rule_context, token_verdict

logger = logging.getLogger(__name__)

CONCURRENT_TX = "ConcurrentTx"
EDITABLE_FIELDS = ("type", "status", "expires_at", "parent", "owner", "label")
ALLOW_LIST_FIELDS = ("allowed_stations", "allowed_sites")
# A change of these reaches the stations' local authorization lists, for the token and its group's members.
LIST_FIELDS = frozenset({"type", "status", "expires_at", "parent", *ALLOW_LIST_FIELDS})


@dataclass(frozen=True)
class Authorization:
    """The answer to an authorisation request, in OCPP's AuthorizationStatus terms."""

    status: str  # Accepted, Blocked, Expired, Invalid, ConcurrentTx
    expires_at: datetime | None = None
    parent_id: str | None = None
    id_token: IdToken | None = None
    # Why it was refused (unknown, token_blocked, group_expired, not_at_this_location, concurrent_tx, ...):
    # lets OCPP 2.0.1 answer Unknown / NotAtThisLocation where 1.6 can only say Invalid.
    reason: str = ""
    # The IdTokenEvent recording this answer (see ``authorization_session_link``).
    event_id: int | None = None

    @property
    def accepted(self) -> bool:
        return self.status == IdToken.Status.ACCEPTED


def id_token_authorize(
    *,
    token: str,
    token_type: str | None = None,
    station=None,
    for_start: bool = False,
    connector_id: int | None = None,
    message: str = IdTokenEvent.Message.AUTHORIZE,
) -> Authorization:
    """Whether ``token`` may charge at ``station``; the outcome is kept in the token's history with the
    station's ``message`` that asked (an IdTokenEvent.Message).

    An OCPP 2.0.1 idToken is its value and its ``token_type`` together: an eMAID is not the RFID card with
    the same characters. A 1.6 idTag has no type (None), and a 2.0.1 Central one is the CSMS's own reference
    (what its remote starts send, whatever the token's type): the value alone finds the token.
    Unknown tokens are Invalid; a token that is not Accepted, or past its expiry, is refused with its
    status, and so is one whose group (parent, or the parent's parent) is; a token or group with an
    allow list of stations/sites is Invalid at other stations. With ``for_start`` a token that already
    has a session in progress gets ConcurrentTx: an accepted session still open (refused starts never
    are), on another connector than ``connector_id`` of ``station`` (one left open there is superseded
    by this start, see ``sessions.services.session_start``).
    """
    from sessions.models import Transaction

    normalized = normalize_token(token)
    known = IdToken.objects.select_related("parent").filter(token=normalized)
    by_value_alone = token_type is None or token_type == IdToken.Type.CENTRAL
    id_token = (known if by_value_alone else known.filter(type=token_type)).first()
    if id_token is None:
        result = Authorization(status=IdToken.Status.INVALID, reason="unknown")
    else:
        verdict = token_verdict(
            id_token, load_rule_context([id_token], with_allow_lists=station is not None), station=station
        )
        status, reason = verdict.status, verdict.reason
        if (
            status == IdToken.Status.ACCEPTED
            and for_start
            and Transaction.objects.filter(id_token=id_token, status=Transaction.Status.ACTIVE)
            .exclude(station=station, connector_id=connector_id)
            .exists()
        ):
            status, reason = CONCURRENT_TX, "concurrent_tx"
        result = Authorization(
            status=status,
            expires_at=verdict.expires_at,
            parent_id=id_token.parent.token if id_token.parent_id else None,
            id_token=id_token,
            reason=reason,
        )
    event = IdTokenEvent.objects.create(
        id_token=id_token,
        token=normalized[:36],
        kind=IdTokenEvent.Kind.AUTHORIZATION,
        status=result.status,
        note=result.reason,
        station=station,
        source=IdTokenEvent.Source.STATION,
        message=message,
    )
    result = replace(result, event_id=event.pk)
    if not result.accepted:
        logger.info(
            "authorization refused",
            extra={
                "id_token": normalized,
                "status": result.status,
                "reason": result.reason,
                "station_id": getattr(station, "ocpp_id", None),
            },
        )
    return result


# An Authorize this long before a start belongs to that start's charge (a driver badges, then plugs in).
AUTHORIZE_LEAD = timedelta(minutes=15)


def authorization_session_link(*, authorization: Authorization | None, session, start: bool = False) -> None:
    """Record that ``authorization`` was asked for ``session``, so the log shows one charge's questions together.

    With ``start`` the station's own Authorize for the same token just before (the driver's badge that
    preceded the start, still unlinked) joins the session too. Authorisations of a session are few (its
    start and its stop), so this is no per-message write.
    """
    if authorization is None or authorization.event_id is None:
        return
    linked = Q(pk=authorization.event_id)
    if start:
        linked |= Q(
            kind=IdTokenEvent.Kind.AUTHORIZATION,
            message=IdTokenEvent.Message.AUTHORIZE,
            session__isnull=True,
            station_id=session.station_id,
            token=Subquery(IdTokenEvent.objects.filter(pk=authorization.event_id).values("token")),
            created_at__gte=timezone.now() - AUTHORIZE_LEAD,
        )
    IdTokenEvent.objects.filter(linked).update(session=session)


def _next_list_version(*, full_update: bool = False) -> int:
    """Take the next local list version; the row lock orders versions as their transactions commit."""
    row = LocalListVersion.objects.select_for_update().filter(pk=1).first()
    if row is None:
        try:
            with transaction.atomic():
                LocalListVersion.objects.create(pk=1)
        except IntegrityError:
            pass  # created by a concurrent change
        row = LocalListVersion.objects.select_for_update().get(pk=1)
    row.version += 1
    if full_update:
        row.full_update_from = row.version
    row.save(update_fields=["version", "full_update_from"])
    # The stations' local lists follow once the change is committed (and the beat catches up on any missed).
    transaction.on_commit(_local_lists_changed, robust=True)
    return row.version


def _local_lists_changed() -> None:
    from stations.tasks import sync_local_lists

    sync_local_lists.delay()


def _bump_members(group_pks: Iterable[int], version: int) -> None:
    """A group's change changes what its members are answered: give them (all levels down) the new version."""
    seen: set[int] = set(group_pks)
    frontier = set(seen)
    while frontier:
        frontier = set(IdToken.objects.filter(parent_id__in=frontier).values_list("pk", flat=True)) - seen
        seen |= frontier
        IdToken.objects.filter(pk__in=frontier).update(list_version=version)


def _shown(value):
    """A JSON-friendly form of a field value for the history."""
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, models.Model):
        return str(value)
    return sorted(str(item) for item in value)


def _split(data: Mapping) -> tuple[dict, dict]:
    unknown = set(data) - set(EDITABLE_FIELDS) - set(ALLOW_LIST_FIELDS)
    if unknown:
        raise ValueError(f"Not editable on an ID token: {', '.join(sorted(unknown))}")
    fields = {name: value for name, value in data.items() if name in EDITABLE_FIELDS}
    allow_lists = {name: list(value) for name, value in data.items() if name in ALLOW_LIST_FIELDS}
    return fields, allow_lists


def _record(id_token: IdToken, *, kind: str, changes: dict, actor, source: str) -> IdTokenEvent:
    status = changes["status"][1] if "status" in changes else ""
    return IdTokenEvent.objects.create(
        id_token=id_token,
        token=id_token.token,
        kind=kind,
        status=status,
        changes=changes,
        actor=actor if getattr(actor, "pk", None) else None,
        source=source,
    )


@transaction.atomic
def id_token_create(*, token: str, data: Mapping | None = None, actor=None, source: str) -> IdToken:
    """Create a token with ``data`` (any of EDITABLE_FIELDS and the allow lists); ValidationError if invalid."""
    fields, allow_lists = _split(data or {})
    id_token = IdToken(token=normalize_token(token), **fields)
    id_token.full_clean()
    id_token.list_version = _next_list_version()
    try:
        with transaction.atomic():
            id_token.save()
    except IntegrityError as exc:
        raise ValidationError({"token": "An ID token with this number exists already."}) from exc
    for name, objects in allow_lists.items():
        getattr(id_token, name).set(objects)
    changes = {name: [None, _shown(value)] for name, value in fields.items() if value not in (None, "")}
    changes.update({name: [[], _shown(objects)] for name, objects in allow_lists.items() if objects})
    changes.setdefault("status", [None, id_token.status])
    _record(id_token, kind=IdTokenEvent.Kind.CREATED, changes=changes, actor=actor, source=source)
    logger.info("id token created", extra={"id_token": id_token.token, "source": source})
    return id_token


@transaction.atomic
def id_token_update(*, id_token: IdToken, data: Mapping, actor=None, source: str) -> IdToken:
    """Change the fields in ``data``; a change that makes no difference records nothing."""
    fields, allow_lists = _split(data)
    changes = {}
    for name, value in fields.items():
        old = getattr(id_token, name)
        if old != value:
            changes[name] = [_shown(old), _shown(value)]
            setattr(id_token, name, value)
    for name, objects in allow_lists.items():
        old_objects = list(getattr(id_token, name).all())
        if {obj.pk for obj in old_objects} != {obj.pk for obj in objects}:
            changes[name] = [_shown(old_objects), _shown(objects)]
    if not changes:
        return id_token
    id_token.full_clean()
    if LIST_FIELDS & set(changes):
        id_token.list_version = _next_list_version()
        _bump_members([id_token.pk], id_token.list_version)
    id_token.save()
    for name, objects in allow_lists.items():
        if name in changes:
            getattr(id_token, name).set(objects)
    _record(id_token, kind=IdTokenEvent.Kind.CHANGED, changes=changes, actor=actor, source=source)
    logger.info("id token changed", extra={"id_token": id_token.token, "fields": sorted(changes), "source": source})
    return id_token


@transaction.atomic
def id_token_upsert(*, token: str, data: Mapping, actor=None, source: str) -> tuple[IdToken, bool]:
    """Create the token, or update it if it exists; answers (token, created)."""
    existing = IdToken.objects.select_for_update().filter(token=normalize_token(token)).first()
    if existing is not None:
        return id_token_update(id_token=existing, data=data, actor=actor, source=source), False
    return id_token_create(token=token, data=data, actor=actor, source=source), True


def id_token_block(*, id_token: IdToken, actor=None, source: str) -> IdToken:
    """Block a token at once (a lost or stolen card); its group's members are not affected."""
    return id_token_update(id_token=id_token, data={"status": IdToken.Status.BLOCKED}, actor=actor, source=source)


@transaction.atomic
def id_tokens_delete(*, id_tokens: Iterable[IdToken], actor=None, source: str) -> int:
    """Delete tokens; their history and sessions stay (without the link). Stations need a full list next."""
    id_tokens = list(id_tokens)
    if not id_tokens:
        return 0
    version = _next_list_version(full_update=True)
    pks = [id_token.pk for id_token in id_tokens]
    _bump_members(pks, version)
    for id_token in id_tokens:
        _record(id_token, kind=IdTokenEvent.Kind.DELETED, changes={}, actor=actor, source=source)
    deleted, _ = IdToken.objects.filter(pk__in=pks).delete()
    logger.info("id tokens deleted", extra={"id_tokens": [t.token for t in id_tokens], "source": source})
    return deleted


class TooManyClaims(Exception):
    """A driver's attempts to add a card were refused too often lately (someone guessing card numbers?)."""


class ClaimPending(Exception):
    """The card is known and has no activation code: an operator must approve the driver's claim first."""

    def __init__(self, claim: IdTokenClaim):
        super().__init__(
            f"Card {claim.id_token.token} is known to us: it is added to your account once our staff "
            "have checked that it is yours."
        )
        self.claim = claim


ACTIVATION_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: it is read off a printed card
ACTIVATION_CODE_LENGTH = 8


def normalize_activation_code(code: str) -> str:
    return "".join((code or "").split()).replace("-", "").upper()


def activation_code_hash(token: str, code: str) -> str:
    """A keyed hash (HMAC with the installation's secret key) of the card's code.

    Not a slow password hash: an import of thousands of cards must not take minutes, and a copy of the
    database alone (without the secret key) does not allow guessing the codes; guessing online is what
    the claim rate limit stops.
    """
    return salted_hmac("accounts.activation_code", f"{token}:{normalize_activation_code(code)}").hexdigest()


def activation_code_matches(id_token: IdToken, code: str) -> bool:
    return bool(id_token.activation_code) and constant_time_compare(
        activation_code_hash(id_token.token, code), id_token.activation_code
    )


def id_token_set_activation_code(*, id_token: IdToken, code: str = "", actor=None, source: str) -> str:
    """Give the card a code to print on it (a new random one unless ``code``); only its hash is kept.

    A driver adding a known card must then type the code; answers the code, to be shown once.
    """
    code = normalize_activation_code(code) or "".join(
        secrets.choice(ACTIVATION_CODE_ALPHABET) for _ in range(ACTIVATION_CODE_LENGTH)
    )
    id_token.activation_code = activation_code_hash(id_token.token, code)
    id_token.save(update_fields=["activation_code", "updated_at"])
    _record(
        id_token, kind=IdTokenEvent.Kind.CHANGED, changes={"activation_code": [None, "set"]}, actor=actor, source=source
    )
    return code


def id_token_claim(
    *,
    user,
    number: str,
    label: str = "",
    token_type: str = IdToken.Type.ISO14443,
    code: str = "",
    source: str = IdTokenEvent.Source.PORTAL,
) -> IdToken:
    """A driver adds a card by its printed number, with the proof the operator asks for a known card.

    A number the system does not know is a new card of ``token_type`` (its number checked for that type's
    format). A known card nobody owns needs the activation code printed on it when it has one; without a code
    the driver's claim waits for an operator's approval (ClaimPending). A card owned by someone else is
    refused, and so is one the driver has already. After CMS_IDTOKEN_CLAIM_REFUSALS_PER_HOUR refusals the
    driver must wait (TooManyClaims): a refusal tells that a number exists, so it must not serve to probe
    numbers (or guess codes).
    """
    key = f"accounts:claim-refusals:{user.pk}"
    if cache.get(key, 0) >= app_settings.IDTOKEN_CLAIM_REFUSALS_PER_HOUR:
        raise TooManyClaims("Too many cards could not be added. Please try again in an hour.")
    try:
        result = _claim(user=user, number=number, label=label, token_type=token_type, code=code, source=source)
    except ValidationError:
        if not cache.add(key, 1, timeout=3600):
            with contextlib.suppress(ValueError):  # expired in between
                cache.incr(key)
        raise
    if isinstance(result, IdTokenClaim):
        raise ClaimPending(result)
    return result


def _known_token(number: str) -> IdToken | None:
    """The card a driver typed, however they separated its digits."""
    spaced = normalize_token("".join((number or "").split()))
    candidates = {spaced, spaced.replace(":", "").replace("-", "")}
    return IdToken.objects.select_for_update().filter(token__in=candidates).order_by("pk").first()


@transaction.atomic
def _claim(*, user, number: str, label: str, token_type: str, code: str, source: str) -> IdToken | IdTokenClaim:
    from accounts.token_formats import clean_token_number

    existing = _known_token(number)
    if existing is None:
        try:
            token = clean_token_number(number, token_type)
        except ValidationError as exc:
            raise ValidationError(
                {"token": f"Enter the number printed on the card. {' '.join(exc.messages)}"}, code="invalid"
            ) from exc
        try:
            return id_token_create(
                token=token, data={"owner": user, "label": label, "type": token_type}, actor=user, source=source
            )
        except ValidationError:
            existing = IdToken.objects.select_for_update().filter(token=token).first()
            if existing is None:
                raise
    if existing.owner_id == user.pk:
        raise ValidationError({"token": "This card is already on your account."}, code="already_yours")
    if existing.owner_id is not None:
        raise ValidationError(
            {"token": "This card is registered to another account. If it is yours, please contact support."},
            code="owned_by_another",
        )
    if existing.activation_code:
        if not code.strip():
            raise ValidationError(
                {"code": "This card has an activation code printed on it: enter it to add the card."},
                code="code_required",
            )
        if not activation_code_matches(existing, code):
            raise ValidationError({"code": "This activation code does not match the card."}, code="wrong_code")
    else:
        claim, _ = IdTokenClaim.objects.get_or_create(
            id_token=existing, user=user, status=IdTokenClaim.Status.PENDING, defaults={"label": label}
        )
        return claim
    data = {"owner": user, **({"label": label} if label else {})}
    return id_token_update(id_token=existing, data=data, actor=user, source=source)


@transaction.atomic
def id_token_claim_decide(*, claim: IdTokenClaim, approve: bool, actor) -> IdTokenClaim:
    """An operator approves a driver's pending claim (the card becomes theirs) or rejects it.

    A card that got an owner meanwhile cannot be given to a second driver: the claim is rejected.
    """
    claim = IdTokenClaim.objects.select_for_update().select_related("id_token", "user").get(pk=claim.pk)
    if claim.status != IdTokenClaim.Status.PENDING:
        raise ValidationError("This claim was decided already.")
    id_token = IdToken.objects.select_for_update().get(pk=claim.id_token_id)
    if approve and id_token.owner_id is not None and id_token.owner_id != claim.user_id:
        raise ValidationError(f"Card {id_token.token} belongs to {id_token.owner} already; reject this claim.")
    if approve:
        data = {"owner": claim.user, **({"label": claim.label} if claim.label and not id_token.label else {})}
        id_token_update(id_token=id_token, data=data, actor=actor, source=IdTokenEvent.Source.OPERATOR)
    claim.status = IdTokenClaim.Status.APPROVED if approve else IdTokenClaim.Status.REJECTED
    claim.decided_by, claim.decided_at = actor, timezone.now()
    claim.save(update_fields=["status", "decided_by", "decided_at"])
    return claim


def user_sync_staff_status(*, user) -> bool:
    """Holders of a staff role need ``is_staff`` to use the admin; grant it. Answers whether it changed."""
    if user.is_staff or not user_roles(user):
        return False
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return True


@transaction.atomic
def api_token_issue(*, user) -> Token:
    """A new API token for an integration user, replacing (and so revoking) the one they had."""
    Token.objects.filter(user=user).delete()
    token = Token.objects.create(user=user)
    logger.info("api token issued", extra={"user": user.email})
    return token


def api_token_revoke(*, user) -> bool:
    deleted, _ = Token.objects.filter(user=user).delete()
    if deleted:
        logger.info("api token revoked", extra={"user": user.email})
    return bool(deleted)


@dataclass
class ImportResult:
    """What an ID token import did, or would do (``dry_run``); with errors, nothing was written."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)
    dry_run: bool = False


def _in_chunks(values: list, size: int = 500):
    # A CSV of many thousand cards: statements of a bounded size rather than one giant IN list.
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _tokens_by_number(numbers: Iterable[str]) -> dict[str, IdToken]:
    found = {}
    for chunk in _in_chunks(sorted(set(numbers))):
        found.update({id_token.token: id_token for id_token in IdToken.objects.filter(token__in=chunk)})
    return found


def _users_by_email(emails: Iterable[str]) -> dict:
    from django.contrib.auth import get_user_model

    found = {}
    for chunk in _in_chunks(sorted(set(emails))):
        users = get_user_model().objects.annotate(email_lower=Lower("email")).filter(email_lower__in=chunk)
        found.update({user.email_lower: user for user in users})
    return found


def id_tokens_import(
    *, text: str, actor=None, source: str = IdTokenEvent.Source.IMPORT, dry_run: bool = False
) -> ImportResult:
    """Issue or update many tokens from CSV text (see accounts.csv_import): all rows or, on any error, none.

    ``dry_run`` does the whole import and rolls it back, so its counts and errors are exact.
    """
    rows, errors = read_token_rows(text)
    result = ImportResult(errors=errors, dry_run=dry_run)
    if not errors:
        with transaction.atomic():
            _import_rows(rows, result, actor=actor, source=source)
            if result.errors or dry_run:
                transaction.set_rollback(True)
    if result.errors:
        result.created = result.updated = result.unchanged = 0
    else:
        logger.info(
            "id tokens imported",
            extra={
                "tokens_created": result.created,
                "tokens_updated": result.updated,
                "tokens_unchanged": result.unchanged,
                "dry_run": dry_run,
                "source": source,
            },
        )
    return result


def _import_rows(rows: list[TokenRow], result: ImportResult, *, actor, source: str) -> None:
    numbers = {row.token for row in rows}
    existing = _tokens_by_number(numbers)
    groups = _tokens_by_number({row.values["parent"] for row in rows if "parent" in row.values} - numbers)
    owners = _users_by_email(row.values["owner"] for row in rows if "owner" in row.values)
    for row in rows:
        parent = row.values.get("parent")
        if parent and parent not in numbers and parent not in groups:
            result.errors.append(f"line {row.line}: group token {parent} does not exist; add it first, or in this file")
        if "owner" in row.values and row.values["owner"] not in owners:
            result.errors.append(f"line {row.line}: there is no user with the e-mail address {row.values['owner']}")
    if result.errors:
        return

    version = _next_list_version()
    now = timezone.now()
    plan = []
    for row in rows:
        is_new = row.token not in existing
        id_token = IdToken(token=row.token, list_version=version) if is_new else existing[row.token]
        data = {
            "type": row.values.get("type"),
            "status": row.values.get("status"),
            "expires_at": row.values.get("expiry"),
            "label": row.values.get("label"),
            "owner": owners.get(row.values.get("owner")),
        }
        changes = _assign(id_token, data, is_new=is_new)
        if "activation_code" in row.values:
            code_hash = activation_code_hash(row.token, row.values["activation_code"])
            if code_hash != id_token.activation_code:
                id_token.activation_code = code_hash
                changes["activation_code"] = [None, "set"]
        plan.append((row, id_token, is_new, changes))
    created = [id_token for _, id_token, is_new, _ in plan if is_new]
    try:
        with transaction.atomic():
            IdToken.objects.bulk_create(created, batch_size=1000)
    except IntegrityError:
        result.errors.append("Some of these tokens were created by someone else meanwhile; run the import again.")
        return

    # Groups are linked once every token of the file exists.
    by_number = {**groups, **existing, **{id_token.token: id_token for id_token in created}}
    events, new_in_groups, changed, list_changed = [], [], [], []
    for row, id_token, is_new, changes in plan:
        parent = by_number.get(row.values.get("parent"))
        if parent is not None and (is_new or id_token.parent_id != parent.pk):
            changes["parent"] = [None if is_new else _shown(id_token.parent), _shown(parent)]
            id_token.parent = parent
            try:
                id_token.clean()
            except ValidationError as exc:
                result.errors.append(f"line {row.line}: {'; '.join(exc.messages)}")
            if is_new:
                new_in_groups.append(id_token)
        if is_new:
            changes.setdefault("status", [None, id_token.status])
            result.created += 1
        elif changes:
            result.updated += 1
            id_token.updated_at = now
            changed.append(id_token)
            if LIST_FIELDS & set(changes):
                id_token.list_version = version
                list_changed.append(id_token.pk)
        else:
            result.unchanged += 1
            continue
        kind = IdTokenEvent.Kind.CREATED if is_new else IdTokenEvent.Kind.CHANGED
        events.append(
            IdTokenEvent(
                id_token=id_token,
                token=id_token.token,
                kind=kind,
                status=changes.get("status", [None, ""])[1],
                changes=changes,
                actor=actor if getattr(actor, "pk", None) else None,
                source=source,
                created_at=now,
            )
        )
    if result.errors:
        return
    IdToken.objects.bulk_update(new_in_groups, ["parent"], batch_size=1000)
    IdToken.objects.bulk_update(
        changed, [*EDITABLE_FIELDS, "activation_code", "list_version", "updated_at"], batch_size=1000
    )
    _bump_members(list_changed, version)
    IdTokenEvent.objects.bulk_create(events, batch_size=1000)


def _assign(id_token: IdToken, data: dict, *, is_new: bool) -> dict:
    """Set the given (not None) values on ``id_token``; answers the changes, {field: [old, new]}."""
    changes = {}
    for name, value in data.items():
        if value is None:
            continue
        old = None if is_new else getattr(id_token, name)
        if is_new or old != value:
            changes[name] = [_shown(old), _shown(value)]
            setattr(id_token, name, value)
    return changes
