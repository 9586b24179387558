"""Portal form of load management: a site's grid-connection limit."""

from decimal import Decimal

from django import forms

from smartcharging.models import LoadGroup


class GridLimitForm(forms.ModelForm):
    """The limit of a site's grid connection; saved through ``load.load_group_save`` (applied at once)."""

    class Meta:
        model = LoadGroup
        fields = ["limit", "limit_unit", "phases", "voltage", "building_reserve_a"]
        help_texts = {
            "limit": "What the cars may draw together (the building's measured load is taken off it).",
            "voltage": "Phase-to-neutral, to convert a limit in kW to amps.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["building_reserve_a"].required = False  # left out: 0 (forms posted before it existed)

    def clean_building_reserve_a(self):
        return self.cleaned_data["building_reserve_a"] or Decimal(0)
