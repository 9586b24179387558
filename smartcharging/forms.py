"""Portal forms of load management: a site's grid connection and feeders with their limits, time-of-day periods and
stations, the site meter, and connectors' current ranges. Saved through ``smartcharging.limits`` (applied at once).
And the driver's needs for a session (``DriverNeedsForm``)."""

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from smartcharging import selectors
from smartcharging.models import LoadGroup
from stations.models import Site, Station


def form_refused(form, error: ValidationError) -> None:
    """A service's refusal on the form: on the field it names when the form has it, else above the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


LIMIT_HELP = "What the cars may draw together (the building's measured load is taken off it)."
MAX_PERIODS = 12


class GridLimitForm(forms.ModelForm):
    """The limit of a site's grid connection; saved through ``limits.load_group_change`` (applied at once)."""

    class Meta:
        model = LoadGroup
        fields = ["limit", "limit_unit", "phases", "voltage", "building_reserve_a"]
        help_texts = {"limit": LIMIT_HELP, "voltage": "Phase-to-neutral, to convert a limit in kW to amps."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["building_reserve_a"].required = False  # left out: 0 (forms posted before it existed)

    def clean_building_reserve_a(self):
        return self.cleaned_data["building_reserve_a"] or Decimal(0)


class ManagedSiteForm(GridLimitForm):
    """Put a site not yet managed under load management: its grid connection's limit."""

    site = forms.ModelChoiceField(queryset=Site.objects.none(), help_text="A site without a limit yet.")

    class Meta(GridLimitForm.Meta):
        fields = ["site", *GridLimitForm.Meta.fields]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = selectors.unmanaged_sites()


class LoadGroupForm(forms.ModelForm):
    """A group of a site: the grid connection (its name and limit) or a feeder (also its parent and stations)."""

    stations = forms.ModelMultipleChoiceField(
        queryset=Station.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The stations on this feeder (the others are below the grid connection).",
    )

    class Meta:
        model = LoadGroup
        fields = ["name", "parent", "limit", "limit_unit", "phases", "voltage"]
        labels = {"parent": "Inside"}
        help_texts = {"limit": LIMIT_HELP, "voltage": "Phase-to-neutral, to convert a limit in kW to amps."}

    def __init__(self, *args, site: Site, **kwargs):
        super().__init__(*args, **kwargs)
        group = self.instance
        if group.pk is not None and group.parent_id is None:  # the grid connection: no parent, no stations of its own
            del self.fields["parent"], self.fields["stations"]
            return
        below = _descendants(group) if group.pk else set()
        self.fields["parent"].queryset = LoadGroup.objects.filter(site=site).exclude(pk__in=below).order_by("name")
        self.fields["parent"].required = True
        self.fields["parent"].empty_label = None
        self.fields["stations"].queryset = Station.objects.filter(site=site).order_by("ocpp_id")
        if group.pk:
            self.initial["stations"] = [placement.station_id for placement in group.placements.all()]


def _descendants(group: LoadGroup) -> set[int]:
    """The group's own key and those of every group inside it (none of them can be its parent)."""
    found, frontier = {group.pk}, [group.pk]
    while frontier:
        frontier = list(LoadGroup.objects.filter(parent_id__in=frontier).values_list("pk", flat=True))
        found.update(frontier)
    return found


class LimitPeriodForm(forms.Form):
    starts = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    ends = forms.TimeField(
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="At or before the start: across midnight; equal: all day.",
    )
    limit = forms.DecimalField(max_digits=9, decimal_places=1, min_value=Decimal(0), help_text="In the group's unit.")


class BaseLimitPeriodFormSet(forms.BaseFormSet):
    def add_fields(self, form, index):
        super().add_fields(form, index)
        if "DELETE" in form.fields:
            form.fields["DELETE"].label = "Remove this period"


LimitPeriodFormSet = forms.formset_factory(
    LimitPeriodForm,
    formset=BaseLimitPeriodFormSet,
    extra=1,
    max_num=MAX_PERIODS,
    validate_max=True,
    can_delete=True,
)


def kept_periods(formset) -> list[dict]:
    """The periods the operator kept (filled and not marked for removal), as ``starts``/``ends``/``limit``."""
    return [
        {name: form.cleaned_data[name] for name in ("starts", "ends", "limit")}
        for form in formset.forms
        if form.has_changed() and form.cleaned_data and not form.cleaned_data.get("DELETE")
    ]


class SiteMeterForm(forms.ModelForm):
    """How the building's own load is measured: none, a Modbus TCP meter, or a station's grid meter."""

    class Meta:
        model = LoadGroup
        fields = ["meter_source", "meter_host", "meter_port", "meter_unit", "meter_register", "meter_station"]
        labels = {"meter_source": "Building meter", "meter_host": "Modbus host", "meter_port": "Modbus port"}

    def __init__(self, *args, site: Site, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["meter_station"].queryset = Station.objects.filter(site=site).order_by("ocpp_id")


class ConnectorSettingsForm(forms.Form):
    """What one connector can take (a connector that has a range already gets this one instead)."""

    prefix = "connector"  # beside the limit form on the site's page, which has its own phases

    station = forms.ModelChoiceField(queryset=Station.objects.none())
    connector_id = forms.IntegerField(label="Connector", min_value=1, max_value=1000)
    min_current_a = forms.DecimalField(
        label="Minimum (A)",
        max_digits=5,
        decimal_places=1,
        min_value=Decimal(0),
        initial=6,
        help_text="Below this the car waits instead of charging.",
    )
    max_current_a = forms.DecimalField(
        label="Maximum (A)", max_digits=5, decimal_places=1, min_value=Decimal(0), initial=32
    )
    phases = forms.TypedChoiceField(choices=[(3, "3"), (1, "1")], coerce=int, initial=3)
    priority = forms.IntegerField(min_value=-100, max_value=100, initial=0, help_text="Higher is served first.")

    def __init__(self, *args, site: Site, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["station"].queryset = Station.objects.filter(site=site).order_by("ocpp_id")


class DriverNeedsForm(forms.Form):
    """A driver's needs for their session in progress, on the phone: the departure in the site's local time (the
    view activates its time zone); ``load.driver_needs_set`` checks the ranges."""

    departure_at = forms.DateTimeField(
        label="I leave at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Within the next 48 hours, in the charger's local time.",
    )
    energy_kwh = forms.DecimalField(
        label="Energy I want from this session (kWh, optional)",
        required=False,
        max_digits=9,
        decimal_places=3,
        help_text="In all, counting what you already charged. Cars that report their own needs use theirs.",
        widget=forms.NumberInput(attrs={"step": "0.1", "min": "0.1", "inputmode": "decimal"}),
    )
