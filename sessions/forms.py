"""Forms of the sessions app's portal pages."""

from django import forms

from stations.models import Station


class ReservationForm(forms.Form):
    station = forms.ModelChoiceField(queryset=Station.objects.order_by("ocpp_id"), to_field_name="ocpp_id")
    connector_id = forms.IntegerField(
        label="Connector", min_value=1, required=False, help_text="Empty: any connector (EVSE) of the station."
    )
    id_tag = forms.CharField(label="ID token", max_length=36)
    group_id_tag = forms.CharField(label="Group token", max_length=36, required=False)
    expires_at = forms.DateTimeField(label="Until", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
