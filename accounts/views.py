"""Portal views: a driver's own cards and sessions (/me/), and the operator's token pages (/operator/)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.forms import AuthorizationFilterForm, IdTokenAddForm, IdTokenImportForm
from accounts.models import IdToken, IdTokenEvent
from accounts.roles import Role, role_required

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
                user=request.user, number=form.cleaned_data["token"], label=form.cleaned_data["label"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except services.TooManyClaims as exc:
            form.add_error(None, str(exc))
            status = 429
        else:
            messages.success(request, f"Card {id_token.token} is on your account.")
            return redirect("accounts:id_token", pk=id_token.pk)
    return render(
        request,
        "accounts/id_tokens.html",
        {
            "id_tokens": selectors.driver_id_tokens(user=request.user),
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
    return render(request, "accounts/session_detail.html", {"session": session})


# Operator pages.


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
        },
    )


@role_required(*STAFF)
def authorizations(request):
    form = AuthorizationFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    events = selectors.authorization_events(outcome=filters.get("outcome", ""), search=filters.get("q", ""))
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
