"""Operator pages for the issuers' legal details (the entity printed on invoices), so that completing them,
which releases the invoices waiting for them, does not need the Django admin."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.roles import role_required
from billing import services
from billing.forms import IssuerDetailsForm
from billing.models import Operator
from billing.operator_views import MONEY_ROLES


@role_required(*MONEY_ROLES)
@require_GET
def issuers(request):
    return render(request, "billing/operator/issuers.html", {"operators": Operator.objects.all()})


@role_required(*MONEY_ROLES)
@require_http_methods(["GET", "POST"])
def issuer_edit(request, pk: int):
    operator = get_object_or_404(Operator, pk=pk)
    form = IssuerDetailsForm(request.POST or None, instance=operator)
    if request.method == "POST":
        if form.is_valid():
            form.save()
            messages.success(request, f"The legal details of {operator.name} are saved.")
            issued = services.invoices_issue_waiting()
            if issued:
                messages.success(request, f"{issued} invoice(s) that waited for these details were issued.")
            return redirect("money:issuers")
        return render(request, "billing/operator/issuer_form.html", {"operator": operator, "form": form}, status=400)
    return render(request, "billing/operator/issuer_form.html", {"operator": operator, "form": form})
