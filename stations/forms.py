"""Forms of the operator's station and site pages. A station's id is checked as the API checks it: the model's
validator (OCPP's identity characters, 48 at most) and uniqueness; its password as the API's is (16 to 40)."""

import secrets
import zoneinfo

from django import forms

from stations import selectors
from stations.api.serializers import PASSWORD_HELP, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH
from stations.models import Site, Station

PASSWORD_HELP_FORM = f"{PASSWORD_HELP} Leave it empty to have one generated; it is shown once."


def generated_password() -> str:
    """A random station password of 32 characters, within OCPP's 16 to 40."""
    return secrets.token_urlsafe(24)


class StationFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=60, label="Search", help_text="Id, name or serial number")
    site = forms.ModelChoiceField(Site.objects.all(), required=False, empty_label="All sites")
    status = forms.ChoiceField(choices=[("", "Any status"), *selectors.STATION_STATUSES.items()], required=False)
    ocpp_version = forms.ChoiceField(
        choices=[("", "Any version"), *Station.OcppVersion.choices], required=False, label="OCPP"
    )
    registration_status = forms.ChoiceField(
        choices=[("", "Any registration"), *Station.RegistrationStatus.choices], required=False, label="Registration"
    )
    sort = forms.ChoiceField(
        choices=[
            ("id", "Id, A to Z"),
            ("-id", "Id, Z to A"),
            ("-last_seen", "Seen latest"),
            ("last_seen", "Seen earliest"),
        ],
        required=False,
        label="Sort",
    )


def password_field(required: bool) -> forms.CharField:
    return forms.CharField(
        required=required,
        min_length=PASSWORD_MIN_LENGTH,
        max_length=PASSWORD_MAX_LENGTH,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=PASSWORD_HELP_FORM,
    )


def site_field() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(Site.objects.all(), required=False, empty_label="No site")


class StationRegisterForm(forms.ModelForm):
    site = site_field()
    password = password_field(required=False)

    class Meta:
        model = Station
        fields = ["ocpp_id", "name", "site", "registration_status"]
        error_messages = {"ocpp_id": {"unique": "A station with this id is already registered."}}
        help_texts = {"ocpp_id": "The identity the station connects with, as in /ocpp/<id>."}


class StationEditForm(forms.ModelForm):
    site = site_field()

    class Meta:
        model = Station
        fields = ["name", "site", "registration_status"]


class StationPasswordForm(forms.Form):
    password = password_field(required=False)


BULK_ACTIONS = {
    "accept": "Accept registration",
    "reject": "Reject registration",
    "operative": "Make available (ChangeAvailability Operative)",
    "inoperative": "Make unavailable (ChangeAvailability Inoperative)",
    "move": "Move to a site",
}


class StationBulkForm(forms.Form):
    action = forms.ChoiceField(choices=[("", "Choose an action"), *BULK_ACTIONS.items()], label="Action")
    stations = forms.ModelMultipleChoiceField(
        Station.objects.all(), to_field_name="ocpp_id", error_messages={"required": "Select at least one station."}
    )
    site = forms.ModelChoiceField(Site.objects.all(), required=False, empty_label="No site", label="To site")
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)


class SiteForm(forms.ModelForm):
    class Meta:
        model = Site
        fields = ["name", "address", "timezone"]
        help_texts = {"timezone": "An IANA time zone such as Europe/Berlin: tariff periods and invoices use it."}

    def clean_timezone(self):
        name = self.cleaned_data["timezone"].strip()
        if name not in zoneinfo.available_timezones():
            raise forms.ValidationError("Not a time zone we know; use an IANA name such as Europe/Berlin.")
        return name
