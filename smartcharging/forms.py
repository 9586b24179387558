"""Portal form of load management: a site's grid-connection limit."""

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
