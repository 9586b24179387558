"""Forms of the driver and operator pages of the accounts app."""

from django import forms
from django.core.exceptions import ValidationError

from accounts.app_settings import app_settings
from accounts.csv_import import decode_csv


class IdTokenAddForm(forms.Form):
    token = forms.CharField(
        label="Card number", max_length=64, help_text="As printed on your card or key fob; spaces do not matter."
    )
    label = forms.CharField(
        label="Name (optional)",
        max_length=100,
        required=False,
        help_text="So that you can tell your cards apart, e.g. “Work car”.",
    )


class IdTokenImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="First row: token, and any of type, status, expiry, parent, owner, label. "
        "Comma, semicolon or tab separated, UTF-8.",
    )
    dry_run = forms.BooleanField(label="Check only, change nothing", required=False)

    def clean_file(self) -> str:
        """The file's text."""
        upload = self.cleaned_data["file"]
        if upload.size > app_settings.IDTOKEN_IMPORT_MAX_BYTES:
            raise ValidationError(f"The file is larger than {app_settings.IDTOKEN_IMPORT_MAX_BYTES // 1024} KB.")
        return decode_csv(upload.read())


class AuthorizationFilterForm(forms.Form):
    outcome = forms.ChoiceField(
        required=False,
        choices=[("", "All outcomes"), ("accepted", "Accepted"), ("refused", "Refused"), ("unknown", "Unknown token")],
    )
    q = forms.CharField(required=False, label="Token", max_length=36)
