"""Operator pages about drivers: the list, a driver's page (account, cards, wallet, invoices, payments) with
wallet credits and refunds, and the list of all payments."""

import uuid

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.roles import role_required, user_has_role
from accounts.selectors import driver_id_tokens
from billing import selectors, services
from billing.forms import WalletAmountField
from billing.models import Payment, PaymentMethod, Wallet
from billing.operator_views import MONEY_READ_ROLES, MONEY_ROLES
from billing.services.wallet import InsufficientFunds


class DriverSearchForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=254, help_text="E-mail or name.")


class WalletMoveForm(forms.Form):
    """A credit to a driver's wallet, or a refund paid out of it."""

    action = forms.ChoiceField(
        label="What", choices=[("credit", "Credit the wallet"), ("refund", "Refund from the wallet")]
    )
    amount = WalletAmountField()
    reason = forms.CharField(
        label="Reason", max_length=255, help_text="Kept in the wallet's ledger, shown to the driver."
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why.")
        return reason


class PaymentFilterForm(forms.Form):
    status = forms.ChoiceField(label="Status", required=False, choices=[("", "Any status"), *Payment.Status.choices])
    method = forms.ChoiceField(label="Method", required=False, choices=[("", "Any method"), *PaymentMethod.choices])
    customer = forms.CharField(label="Customer e-mail contains", required=False, max_length=254)


@role_required(*MONEY_READ_ROLES)
@require_GET
def drivers(request):
    form = DriverSearchForm(request.GET or None)
    search = form.cleaned_data["q"] if form.is_valid() else ""
    page = Paginator(selectors.drivers_for_staff(search=search), 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "billing/operator/drivers.html", {"form": form, "page": page, "query": query.urlencode()})


@role_required(*MONEY_READ_ROLES)
@require_http_methods(["GET", "POST"])
def driver_detail(request, pk: int):
    driver = get_object_or_404(get_user_model().objects.filter(is_staff=False, is_superuser=False), pk=pk)
    can_write = user_has_role(request.user, *MONEY_ROLES)
    form = WalletMoveForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not can_write:
            raise PermissionDenied("Your role does not allow this.")
        if form.is_valid():
            data = form.cleaned_data
            move = services.wallet_adjust if data["action"] == "credit" else services.wallet_refund
            try:
                entry = move(
                    user=driver,
                    amount=data["amount"],
                    reason=data["reason"],
                    by=request.user,
                    reference=f"{data['action']}:{uuid.uuid4()}",
                )
            except (ValidationError, InsufficientFunds) as exc:
                form.add_error("amount", " ".join(getattr(exc, "messages", [str(exc)])))
            else:
                done = "Credited" if data["action"] == "credit" else "Refunded"
                messages.success(
                    request,
                    f"{done} {abs(entry.amount):.2f} {entry.wallet.currency}; "
                    f"the wallet now holds {entry.balance_after:.2f} {entry.wallet.currency}.",
                )
                return redirect("money:driver", pk=driver.pk)
        status = 400
    wallet = Wallet.objects.filter(user=driver).first()
    available, currency = selectors.wallet_available_balance(driver)
    return render(
        request,
        "billing/operator/driver_detail.html",
        {
            "driver": driver,
            "profile": selectors.profile_of(driver),
            "id_tokens": driver_id_tokens(user=driver),
            "wallet": wallet,
            "entries": wallet.entries.select_related("created_by")[:20] if wallet else [],
            "available": available,
            "currency": currency,
            "invoices": selectors.invoices_of(driver)[:20],
            "payments": Payment.objects.filter(user=driver).select_related("invoice")[:20],
            "form": form,
            "can_write": can_write,
        },
        status=status,
    )


@role_required(*MONEY_READ_ROLES)
@require_GET
def payments(request):
    form = PaymentFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    page = Paginator(selectors.payments_for_staff(filters=filters), 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "billing/operator/payments.html",
        {"form": form, "page": page, "query": query.urlencode()},
        status=200 if form.is_valid() or not request.GET else 400,
    )
