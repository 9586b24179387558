"""Operator pages for tariffs: the list, and a form (with its periods) that previews a sample session's price.

The preview is the billing engine's own computation (``planned_usage`` + ``price_session``) on the values in
the form, saved or not; the page's script asks for it as the operator types (the same view, ``fragment=1``),
and a button does the same without the script.
"""

from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.roles import role_required, user_has_role
from billing import selectors, services
from billing.models import Tariff, TariffPeriod
from billing.operator_views import MONEY_READ_ROLES, MONEY_ROLES
from billing.pricing import TariffSpec
from billing.tariff_forms import SampleSessionForm, TariffForm, TariffPeriodFormSet


class TariffFilterForm(forms.Form):
    q = forms.CharField(label="Name contains", required=False, max_length=120)
    currency = forms.CharField(label="Currency", required=False, max_length=3)
    in_force = forms.BooleanField(label="In force now", required=False)


@role_required(*MONEY_READ_ROLES)
@require_GET
def tariffs(request):
    form = TariffFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    page = Paginator(selectors.tariffs_for_staff(filters=filters), 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "billing/operator/tariffs.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "now": timezone.now(),
            "can_write": user_has_role(request.user, *MONEY_ROLES),
        },
    )


@role_required(*MONEY_ROLES)
@require_http_methods(["GET", "POST"])
def tariff_create(request):
    return _tariff_page(request, Tariff(valid_from=timezone.now().replace(second=0, microsecond=0)))


@role_required(*MONEY_ROLES)
@require_http_methods(["GET", "POST"])
def tariff_edit(request, pk: int):
    return _tariff_page(request, get_object_or_404(Tariff.objects.select_related("station__site", "site"), pk=pk))


def _periods(formset) -> list[dict]:
    """The periods kept in the form, in order, as field values."""
    return [
        {name: value for name, value in form.cleaned_data.items() if name not in ("id", "tariff", "DELETE")}
        for form in formset.forms
        if form.has_changed() and form.cleaned_data and not form.cleaned_data.get("DELETE")
    ]


def _preview(form, formset, sample):
    """The engine's price of the sample session under the form's tariff, or None while anything is invalid."""
    if not (form.is_valid() and formset.is_valid() and sample.is_valid()):
        return None
    tariff = form.instance
    zone = selectors.tariff_timezone(tariff)
    periods = [TariffPeriod(**values) for values in _periods(formset)]
    starts_at = timezone.make_naive(sample.cleaned_data["starts_at"]).replace(tzinfo=ZoneInfo(zone))
    return selectors.tariff_preview(
        spec=TariffSpec.from_model(tariff, zone, periods=periods),
        energy_kwh=sample.cleaned_data["energy_kwh"],
        minutes=sample.cleaned_data["minutes"],
        starts_at=starts_at,
    )


def _tariff_page(request, tariff: Tariff):
    data = request.POST if request.method == "POST" else None
    form = TariffForm(data, instance=tariff)
    formset = TariffPeriodFormSet(data, instance=tariff, prefix="periods")
    sample_initial = {"starts_at": timezone.localtime().replace(hour=18, minute=0, second=0, microsecond=0)}
    sample = SampleSessionForm(data, prefix="sample", initial=sample_initial)
    if data is not None and "save" in data and form.is_valid() and formset.is_valid():
        try:
            saved, new_version = services.tariff_save(tariff=form.instance, periods=_periods(formset))
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            if new_version:
                messages.success(
                    request,
                    f"{saved.name}: this tariff has priced sessions, so the changes are a new version in force "
                    f"from {timezone.localtime(saved.valid_from):%Y-%m-%d %H:%M}; past sessions keep their prices.",
                )
            else:
                messages.success(request, f"Tariff {saved.name} saved.")
            return redirect("money:tariff-edit", pk=saved.pk)
    price = _preview(form, formset, sample) if data is not None else None
    context = {
        "tariff": tariff,
        "form": form,
        "formset": formset,
        "sample": sample,
        "price": price,
        "previewed": data is not None,
        "in_use": services.tariff_has_priced_sessions(tariff),
    }
    invalid = data is not None and price is None
    if request.GET.get("fragment"):
        return render(request, "billing/operator/_tariff_preview.html", context)
    return render(request, "billing/operator/tariff_form.html", context, status=400 if invalid else 200)
