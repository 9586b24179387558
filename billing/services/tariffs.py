"""Saving a tariff from the operator's form: in place while it has priced nothing, else as a new version."""

from django.db import transaction
from django.utils import timezone

from billing.models import SessionCharge, Tariff, TariffPeriod
from billing.services.pricing import tariff_new_version

# What an operator sets of a tariff (the form and the API), and of each of its periods.
TARIFF_FIELDS = (
    "name",
    "currency",
    "tax_rate",
    "station",
    "site",
    "driver_group",
    "valid_from",
    "valid_until",
    "price_per_kwh",
    "price_per_minute",
    "start_fee",
    "idle_price_per_minute",
    "idle_grace_minutes",
    "min_price",
    "max_price",
    "min_billable_energy_wh",
)
PERIOD_FIELDS = (
    "name",
    "weekdays",
    "start_time",
    "end_time",
    "price_per_kwh",
    "price_per_minute",
    "idle_price_per_minute",
)


def tariff_has_priced_sessions(tariff: Tariff) -> bool:
    return bool(tariff.pk) and SessionCharge.objects.filter(tariff=tariff).exists()


@transaction.atomic
def tariff_save(*, tariff: Tariff, periods: list[dict]) -> tuple[Tariff, bool]:
    """Save ``tariff`` (unsaved changes from a form) with ``periods`` (their field values, in order).

    A tariff that has priced sessions is never changed: the changes become a new version in force from
    the later of its ``valid_from`` and now, and the old version ends there (``tariff_new_version``).
    Answers (the saved tariff, whether it is a new version). ValidationError if the values are invalid.
    """
    if tariff_has_priced_sessions(tariff):
        changes = {
            field.name: getattr(tariff, field.name)
            for field in Tariff._meta.concrete_fields
            if field.name not in ("id", "valid_from", "created_at", "updated_at")
        }
        stored_from = Tariff.objects.filter(pk=tariff.pk).values_list("valid_from", flat=True).get()
        valid_from = max(tariff.valid_from, timezone.now(), stored_from)
        saved = tariff_new_version(tariff=Tariff(pk=tariff.pk), valid_from=valid_from, **changes)
        new_version = True
    else:
        tariff.full_clean()
        tariff.save()
        saved, new_version = tariff, False
    saved.periods.all().delete()
    for position, values in enumerate(periods):
        period = TariffPeriod(tariff=saved, position=position, **{name: values.get(name) for name in PERIOD_FIELDS})
        period.full_clean()
        period.save()
    return saved, new_version
