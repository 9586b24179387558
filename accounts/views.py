"""Portal views: a driver's own cards and sessions (/me/), and the operator's token pages (/operator/)."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors, services
from accounts.forms import (
    AuthorizationFilterForm,
    IdTokenAddForm,
    IdTokenFilterForm,
    IdTokenImportForm,
    IdTokenIssueForm,
)
from accounts.models import IdToken, IdTokenClaim, IdTokenEvent
from accounts.roles import Role, role_required, user_has_role
from billing import selectors as billing_selectors
from sessions.models import Transaction
from smartcharging import load
from smartcharging import selectors as smartcharging_selectors
from smartcharging.forms import DriverNeedsForm, form_refused

STAFF = (Role.OPERATOR_ADMIN, Role.TECHNICIAN, Role.FINANCE, Role.ANALYST)


def _page(request, items, per_page: int = 25):
    return Paginator(items, per_page).get_page(request.GET.get("page"))


# A driver's own pages. Every lookup starts from the driver's own objects: another's id is simply not found.


@login_required
def me(request):
    return render(
        request,
        "accounts/me.html",
        {
            "id_tokens": selectors.driver_id_tokens(user=request.user),
            "sessions": selectors.driver_transactions(user=request.user)[:5],
        },
    )


@login_required
def id_tokens(request):
    form = IdTokenAddForm(request.POST or None)
    status = 400
    if request.method == "POST" and form.is_valid():
        try:
            id_token = services.id_token_claim(
                user=request.user,
                number=form.cleaned_data["token"],
                label=form.cleaned_data["label"],
                token_type=form.cleaned_data["type"],
                code=form.cleaned_data["code"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except services.TooManyClaims as exc:
            form.add_error(None, str(exc))
            status = 429
        except services.ClaimPending as pending:
            messages.info(request, str(pending))
            return redirect("accounts:id_tokens")
        else:
            messages.success(request, f"Card {id_token.token} is on your account.")
            return redirect("accounts:id_token", pk=id_token.pk)
    return render(
        request,
        "accounts/id_tokens.html",
        {
            "id_tokens": selectors.driver_id_tokens(user=request.user),
            "claims": selectors.driver_pending_claims(user=request.user),
            "form": form,
        },
        status=status if form.errors else 200,
    )


@login_required
def id_token_detail(request, pk: int):
    id_token = get_object_or_404(selectors.driver_id_tokens(user=request.user), pk=pk)
    return render(
        request,
        "accounts/id_token_detail.html",
        {
            "id_token": id_token,
            "sessions": selectors.driver_transactions(user=request.user).filter(id_token=id_token)[:20],
        },
    )


@login_required
@require_POST
def id_token_block(request, pk: int):
    id_token = get_object_or_404(selectors.driver_id_tokens(user=request.user), pk=pk)
    if id_token.status == IdToken.Status.BLOCKED:
        messages.info(request, f"Card {id_token.token} is already blocked.")
    else:
        services.id_token_block(id_token=id_token, actor=request.user, source=IdTokenEvent.Source.PORTAL)
        messages.success(
            request,
            f"Card {id_token.token} is blocked: it can no longer start a charge. "
            "To use it again, please contact support.",
        )
    return redirect("accounts:id_token", pk=id_token.pk)


@login_required
def sessions(request):
    return render(
        request,
        "accounts/sessions.html",
        {
            "page": _page(request, selectors.driver_transactions(user=request.user)),
        },
    )


@login_required
def session_detail(request, pk: int):
    session = get_object_or_404(selectors.driver_transactions(user=request.user), pk=pk)
    context = {"session": session, "load": smartcharging_selectors.session_load(session=session)}
    with timezone.override(_local_zone(session)):
        return render(request, "accounts/session_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def session_needs(request, pk: int):
    """The driver's needs for their session in progress (an ended one, or another's, is not found)."""
    sessions = selectors.driver_transactions(user=request.user).filter(status=Transaction.Status.ACTIVE)
    session = get_object_or_404(sessions, pk=pk)
    stated = smartcharging_selectors.session_load(session=session).stated
    with timezone.override(_local_zone(session)):
        initial = {"departure_at": stated.departure_at, "energy_kwh": stated.energy_kwh} if stated else {}
        form = DriverNeedsForm(request.POST or None, initial=initial)
        if request.method == "POST" and "clear" in request.POST:
            load.driver_needs_clear(session=session)
            messages.success(request, "Your charging needs are cleared.")
            return redirect("accounts:session", pk=session.pk)
        if request.method == "POST" and form.is_valid():
            try:
                load.driver_needs_set(
                    session=session,
                    departure_at=form.cleaned_data["departure_at"],
                    energy_kwh=form.cleaned_data["energy_kwh"],
                )
            except ValidationError as error:
                form_refused(form, error)
            else:
                messages.success(request, "Your charging needs are saved.")
                return redirect("accounts:session", pk=session.pk)
        context = {"session": session, "form": form, "stated": stated}
        return render(request, "accounts/session_needs.html", context, status=400 if form.errors else 200)


def _local_zone(session) -> ZoneInfo:
    """The time zone the session's times are shown in: the one its tariff's periods were applied in (its site's,
    else its operator's, else the installation's), so that a driver reads the same hours on the page as on the
    invoice."""
    try:
        return ZoneInfo(billing_selectors.station_timezone(session.station))
    except (ValueError, ZoneInfoNotFoundError):
        return timezone.get_default_timezone()


# Operator pages: every staff role reads the tokens; operator admins issue, block and decide claims.

TOKEN_WRITE_ROLES = (Role.OPERATOR_ADMIN,)


@role_required(*STAFF)
def operator_id_tokens(request):
    form = IdTokenFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "accounts/operator/id_tokens.html",
        {
            "form": form,
            "page": _page(request, selectors.id_tokens_for_staff(filters=filters), per_page=50),
            "filter_query": query.urlencode(),
            "claims": selectors.pending_claims()[:20],
            "can_write": user_has_role(request.user, *TOKEN_WRITE_ROLES),
        },
        status=200 if form.is_valid() or not request.GET else 400,
    )


@role_required(*TOKEN_WRITE_ROLES)
def operator_id_token_issue(request):
    form = IdTokenIssueForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            id_token = services.id_token_create(
                token=data["token"],
                data={
                    "type": data["type"],
                    "owner": data.get("owner"),
                    "parent": data.get("parent"),
                    "label": data["label"],
                    "expires_at": data["expires_at"],
                },
                actor=request.user,
                source=IdTokenEvent.Source.OPERATOR,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            code = ""
            if data["activation_code"]:
                code = services.id_token_set_activation_code(
                    id_token=id_token, actor=request.user, source=IdTokenEvent.Source.OPERATOR
                )
            return render(request, "accounts/operator/id_token_issued.html", {"id_token": id_token, "code": code})
    return render(request, "accounts/operator/id_token_issue.html", {"form": form}, status=400 if form.errors else 200)


@role_required(*TOKEN_WRITE_ROLES)
@require_POST
def operator_id_token_status(request, pk: int):
    id_token = get_object_or_404(IdToken, pk=pk)
    wanted = IdToken.Status.BLOCKED if request.POST.get("action") == "block" else IdToken.Status.ACCEPTED
    if id_token.status == wanted:
        messages.info(request, f"{id_token.token} is {wanted.label.lower()} already.")
    else:
        services.id_token_update(
            id_token=id_token, data={"status": wanted}, actor=request.user, source=IdTokenEvent.Source.OPERATOR
        )
        verb = "blocked" if wanted == IdToken.Status.BLOCKED else "unblocked: it may charge again"
        messages.success(request, f"{id_token.token} is {verb}.")
    return redirect("accounts:id_token_history", pk=id_token.pk)


@role_required(*TOKEN_WRITE_ROLES)
@require_POST
def operator_claim_decide(request, pk: int):
    claim = get_object_or_404(IdTokenClaim, pk=pk)
    approve = request.POST.get("action") == "approve"
    try:
        claim = services.id_token_claim_decide(claim=claim, approve=approve, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        outcome = "is now on the account of" if approve else "was not given to"
        messages.success(request, f"Card {claim.id_token.token} {outcome} {claim.user.email}.")
    return redirect("accounts:id_token_history", pk=claim.id_token_id)


@role_required(Role.OPERATOR_ADMIN)
def id_token_import(request):
    form = IdTokenImportForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        result = services.id_tokens_import(
            text=form.cleaned_data["file"], actor=request.user, dry_run=form.cleaned_data["dry_run"]
        )
    status = 400 if form.errors or (result and result.errors) else 200
    return render(request, "accounts/operator/id_token_import.html", {"form": form, "result": result}, status=status)


@role_required(*STAFF)
def id_token_history(request, pk: int):
    id_token = get_object_or_404(IdToken.objects.select_related("parent", "owner"), pk=pk)
    return render(
        request,
        "accounts/operator/id_token_history.html",
        {
            "id_token": id_token,
            "stats": selectors.id_token_stats(id_token=id_token),
            "page": _page(request, selectors.id_token_events(id_token=id_token), per_page=50),
            "sessions": selectors.id_token_transactions(id_token=id_token)[:20],
            "claims": selectors.pending_claims(id_token=id_token),
            "can_write": user_has_role(request.user, *TOKEN_WRITE_ROLES),
        },
    )


@role_required(*STAFF)
def authorizations(request):
    form = AuthorizationFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    events = selectors.authorization_events(
        outcome=filters.get("outcome", ""), search=filters.get("q", ""), message=filters.get("message", "")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "accounts/operator/authorizations.html",
        {
            "form": form,
            "page": _page(request, events, per_page=50),
            "filter_query": query.urlencode(),
        },
    )
