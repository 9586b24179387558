"""The operator's tariff form: the tariff, its time-of-day periods, and a sample session to preview its price."""

from decimal import Decimal

from django import forms
from django.conf import settings
from django.forms import inlineformset_factory

from billing.models import Tariff, TariffPeriod
from billing.services.tariffs import PERIOD_FIELDS, TARIFF_FIELDS

DATETIME_LOCAL = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class TariffForm(forms.ModelForm):
    class Meta:
        model = Tariff
        fields = list(TARIFF_FIELDS)
        labels = {"tax_rate": "VAT rate (%)", "min_billable_energy_wh": "Free below (Wh)"}
        help_texts = {
            "currency": "ISO 4217 code, e.g. EUR.",
            "station": "Only at this station (or choose a site; neither: the whole network).",
            "driver_group": "Only for this group's drivers (empty: everyone).",
        }
        widgets = {"valid_from": DATETIME_LOCAL, "valid_until": DATETIME_LOCAL}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["valid_from"].help_text = f"In {settings.TIME_ZONE} time."

    def clean_currency(self) -> str:
        return (self.cleaned_data.get("currency") or "").strip().upper()


class TariffPeriodForm(forms.ModelForm):
    class Meta:
        model = TariffPeriod
        fields = list(PERIOD_FIELDS)
        labels = {"weekdays": "Weekdays (1 = Monday)", "idle_price_per_minute": "Idle fee per minute"}
        help_texts = {"name": "", "weekdays": ""}
        widgets = {
            "start_time": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "end_time": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }


TariffPeriodFormSet = inlineformset_factory(
    Tariff, TariffPeriod, form=TariffPeriodForm, extra=1, max_num=12, validate_max=True, can_delete=True
)


class SampleSessionForm(forms.Form):
    """The sample session of the price preview: energy delivered evenly over the duration, no idle time."""

    energy_kwh = forms.DecimalField(
        label="Energy (kWh)", max_digits=8, decimal_places=3, min_value=Decimal(0), max_value=Decimal(1000), initial=20
    )
    minutes = forms.IntegerField(label="Duration (minutes)", min_value=1, max_value=7 * 24 * 60, initial=60)
    starts_at = forms.DateTimeField(
        label="Starts at (the tariff's local time)", widget=DATETIME_LOCAL, help_text="Periods apply in local time."
    )
