"""Operator pages for money (finance and operator admins): all invoices with filters and CSV export, dunning."""

import csv
import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.roles import Role, role_required
from billing import selectors, services
from billing.forms import InvoiceFilterForm, WalletCreditForm
from billing.models import Payment, WalletEntry

MONEY_ROLES = (Role.FINANCE, Role.OPERATOR_ADMIN)
MONEY_READ_ROLES = (*MONEY_ROLES, Role.ANALYST)  # analysts read billing, change nothing
CSV_COLUMNS = [
    "number",
    "kind",
    "purpose",
    "status",
    "operator",
    "customer_email",
    "customer_name",
    "issued_at",
    "due_at",
    "paid_at",
    "period_start",
    "period_end",
    "currency",
    "net_total",
    "tax_total",
    "gross_total",
    "credited_invoice",
    "payment_status",
    "payment_method",
]


class _Echo:
    def write(self, value):
        return value


def _stamp(value) -> str:
    return value.isoformat() if value else ""


def _csv_row(invoice) -> list:
    payment = getattr(invoice, "payment", None)
    stamp = _stamp
    return [
        invoice.number,
        invoice.kind,
        invoice.purpose,
        invoice.status,
        invoice.operator.name,
        invoice.customer.email,
        invoice.customer_details.get("name", ""),
        stamp(invoice.issued_at),
        stamp(invoice.due_at),
        stamp(invoice.paid_at),
        stamp(invoice.period_start),
        stamp(invoice.period_end),
        invoice.currency,
        invoice.net_total,
        invoice.tax_total,
        invoice.gross_total,
        invoice.credited_invoice.number if invoice.credited_invoice_id else "",
        payment.status if payment else "",
        payment.method if payment else "",
    ]


@role_required(*MONEY_READ_ROLES)
@require_GET
def invoices(request):
    form = InvoiceFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    queryset = selectors.invoices_for_staff(filters=filters).exclude(status="draft")
    if request.GET.get("export") == "csv":
        writer = csv.writer(_Echo())

        def lines():
            yield writer.writerow(CSV_COLUMNS)
            for invoice in queryset.select_related("credited_invoice").iterator(chunk_size=2000):
                yield writer.writerow(_csv_row(invoice))

        response = StreamingHttpResponse(lines(), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="invoices-{timezone.now():%Y%m%d-%H%M}.csv"'
        return response
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "billing/operator/invoices.html", {"form": form, "page": page, "query": query.urlencode()})


@role_required(*MONEY_READ_ROLES)
@require_GET
def dunning(request):
    page = Paginator(selectors.dunning_list(), 50).get_page(request.GET.get("page"))
    return render(request, "billing/operator/dunning.html", {"page": page})


@role_required(*MONEY_ROLES)
@require_POST
def dunning_action(request, pk: int):
    payment = get_object_or_404(Payment, pk=pk)
    if request.POST.get("action") == "settled":
        services.payment_settled_elsewhere(payment=payment, by=request.user)
        messages.success(request, f"Invoice {payment.invoice.number} marked as paid.")
    else:
        payment = services.payment_collect(payment_id=payment.pk, force=True)
        messages.info(request, f"Invoice {payment.invoice.number}: {payment.get_status_display()}.")
    return redirect("billing:dunning")


@role_required(*MONEY_ROLES)
@require_http_methods(["GET", "POST"])
def wallet_credit(request):
    """Credit a driver's wallet without a payment provider; every credit is a ledger entry naming who gave it."""
    form = WalletCreditForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        driver = form.cleaned_data["driver"]
        entry = services.wallet_adjust(
            user=driver,
            amount=form.cleaned_data["amount"],
            reason=form.cleaned_data["reason"],
            by=request.user,
            reference=f"adjustment:{uuid.uuid4()}",
        )
        messages.success(
            request,
            f"Credited {entry.amount} {entry.wallet.currency} to {driver.email}; "
            f"the wallet now holds {entry.balance_after} {entry.wallet.currency}.",
        )
        return redirect("billing:wallet-credit")
    adjustments = WalletEntry.objects.filter(kind=WalletEntry.Kind.ADJUSTMENT).select_related(
        "wallet__user", "created_by"
    )[:50]
    return render(request, "billing/operator/wallets.html", {"form": form, "adjustments": adjustments})
