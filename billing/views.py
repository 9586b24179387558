"""Driver pages: billing overview, own invoices and their PDFs, wallet top-up, payment card, subscription."""

import uuid

import stripe
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.roles import Role, user_has_role
from billing import selectors, services
from billing.app_settings import app_settings
from billing.forms import BillingProfileForm, SubscribeForm, TestTopUpForm, TopUpForm
from billing.gateways import test as test_payments
from billing.gateways.stripe import StripeNotConfigured
from billing.models import Invoice, Payment, Subscription, SubscriptionPlan, Wallet
from billing.pdf import invoice_pdf

MONEY_ROLES = (Role.FINANCE, Role.OPERATOR_ADMIN)


def _errors(error: ValidationError) -> str:
    return " ".join(error.messages)


@login_required
@require_GET
def overview(request):
    user = request.user
    available, currency = selectors.wallet_available_balance(user)
    can_charge, reason = selectors.user_can_start_charging(user)
    return render(
        request,
        "billing/driver/overview.html",
        {
            "wallet": Wallet.objects.filter(user=user).first(),
            "available": available,
            "currency": currency,
            "profile": selectors.profile_of(user),
            "profile_form": BillingProfileForm(instance=selectors.profile_of(user)),
            "subscription": Subscription.objects.filter(user=user).select_related("plan").first(),
            "invoices": selectors.invoices_of(user)[:10],
            "failed_payments": Payment.objects.filter(
                user=user, status__in=[Payment.Status.FAILED, Payment.Status.UNCOLLECTIBLE]
            ).select_related("invoice"),
            "can_charge": can_charge,
            "reason": reason,
        },
    )


@login_required
@require_GET
def invoice_list(request):
    page = Paginator(selectors.invoices_of(request.user), 25).get_page(request.GET.get("page"))
    return render(request, "billing/driver/invoices.html", {"page": page})


@login_required
@require_GET
def invoice_download(request, pk: int):
    """The PDF of an issued invoice: the driver's own, or any for finance staff; anything else is 404."""
    invoices = Invoice.objects.exclude(status=Invoice.Status.DRAFT).select_related("operator", "credited_invoice")
    if not user_has_role(request.user, *MONEY_ROLES, Role.ANALYST):  # analysts read billing
        invoices = invoices.filter(customer=request.user)
    invoice = get_object_or_404(invoices, pk=pk)
    response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice.number}.pdf"'
    return response


@login_required
@require_POST
def profile_update(request):
    form = BillingProfileForm(request.POST, instance=selectors.profile_of(request.user))
    if form.is_valid():
        try:
            services.billing_profile_update(user=request.user, **form.cleaned_data)
            messages.success(request, "Billing details saved.")
        except ValidationError as error:
            messages.error(request, _errors(error))
    else:
        messages.error(request, "Please check the billing details: " + form.errors.as_text())
    return redirect("billing:overview")


@login_required
@require_http_methods(["GET", "POST"])
def wallet(request):
    form = TopUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            intent = services.wallet_top_up_start(user=request.user, amount=form.cleaned_data["amount"])
        except ValidationError as error:
            form.add_error("amount", _errors(error))
        except (StripeNotConfigured, stripe.StripeError) as error:
            messages.error(request, f"Card payments are unavailable right now: {error}")
        else:
            return _confirm_page(request, "payment", intent.client_secret, "Pay the top-up")
    return _wallet_page(request, form=form)


def _wallet_page(request, *, form=None, test_form=None):
    wallet = Wallet.objects.filter(user=request.user).first()
    test_enabled = test_payments.test_payments_enabled()
    if test_enabled and test_form is None:
        test_form = TestTopUpForm(initial={"key": uuid.uuid4()}, auto_id="id_test_%s")
    return render(
        request,
        "billing/driver/wallet.html",
        {
            "wallet": wallet,
            "entries": wallet.entries.all()[:50] if wallet else [],
            "form": form or TopUpForm(),
            "test_form": test_form if test_enabled else None,
            "test_label": test_payments.LABEL,
            "limits": app_settings.TOP_UP_LIMITS,
        },
    )


@login_required
@require_POST
def wallet_test_top_up(request):
    """Top up with the test payment method (demo mode only): credited at once, no money moves."""
    if not test_payments.test_payments_enabled():
        raise Http404("Test payments are not enabled here.")
    form = TestTopUpForm(request.POST, auto_id="id_test_%s")
    if form.is_valid():
        try:
            entry = services.wallet_test_top_up(
                user=request.user, amount=form.cleaned_data["amount"], key=str(form.cleaned_data["key"])
            )
        except ValidationError as error:
            form.add_error("amount", _errors(error))
        else:
            messages.success(request, f"Topped up {entry.amount} {entry.wallet.currency} ({test_payments.LABEL}).")
            return redirect("billing:wallet")
    return _wallet_page(request, test_form=form)


@login_required
@require_http_methods(["GET", "POST"])
def card_setup(request):
    if request.method == "GET":
        # Saving a card starts with the button on the billing page (a POST); a bookmarked or reloaded URL lands there.
        return redirect("billing:overview")
    try:
        intent = services.card_setup_start(user=request.user)
    except (StripeNotConfigured, stripe.StripeError) as error:
        messages.error(request, f"Card payments are unavailable right now: {error}")
        return redirect("billing:overview")
    return _confirm_page(request, "setup", intent.client_secret, "Save the card")


def _confirm_page(request, mode: str, client_secret: str, title: str):
    """Stripe's Payment Element confirms in the browser; card data never touches our server."""
    return render(
        request,
        "billing/driver/confirm.html",
        {
            "mode": mode,
            "client_secret": client_secret,
            "publishable_key": app_settings.STRIPE_PUBLISHABLE_KEY,
            "return_url": request.build_absolute_uri(reverse("billing:overview")),
            "title": title,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def subscription(request):
    current = (
        Subscription.objects.filter(
            user=request.user, status__in=[Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE]
        )
        .select_related("plan")
        .first()
    )
    form = SubscribeForm(request.POST or None)
    if request.method == "POST":
        if request.POST.get("action") == "cancel":
            if current is None:
                raise Http404("No subscription.")
            services.subscription_cancel(subscription=current)
            messages.success(request, f"Your subscription ends on {current.current_period_end:%Y-%m-%d}.")
            return redirect("billing:subscription")
        if form.is_valid():
            try:
                services.subscription_start(user=request.user, plan=form.cleaned_data["plan"])
            except ValidationError as error:
                messages.error(request, _errors(error))
            else:
                messages.success(request, "Subscribed. The first month is being charged.")
                return redirect("billing:subscription")
    return render(
        request,
        "billing/driver/subscription.html",
        {
            "current": current,
            "plans": SubscriptionPlan.objects.filter(is_active=True),
            "form": form,
        },
    )
