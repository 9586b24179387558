"""Forms of the driver and operator pages of the accounts app."""

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from accounts.app_settings import app_settings
from accounts.csv_import import decode_csv
from accounts.models import IdToken, IdTokenEvent, normalize_token

DRIVER_CARD_TYPES = [
    (IdToken.Type.ISO14443, "RFID card or key fob (ISO 14443, most cards)"),
    (IdToken.Type.ISO15693, "RFID tag (ISO 15693)"),
    (IdToken.Type.EMAID, "Charging contract (eMAID)"),
]


class IdTokenAddForm(forms.Form):
    token = forms.CharField(
        label="Card number", max_length=64, help_text="As printed on your card or key fob; spaces do not matter."
    )
    type = forms.ChoiceField(
        label="Card type", choices=DRIVER_CARD_TYPES, initial=IdToken.Type.ISO14443, required=False
    )
    code = forms.CharField(
        label="Activation code (if printed on the card)",
        max_length=40,
        required=False,
        help_text="Cards we issued carry a code beside the number: it proves the card is in your hands.",
    )
    label = forms.CharField(
        label="Name (optional)",
        max_length=100,
        required=False,
        help_text="So that you can tell your cards apart, e.g. “Work car”.",
    )

    def clean_type(self) -> str:
        return self.cleaned_data["type"] or IdToken.Type.ISO14443


class IdTokenFilterForm(forms.Form):
    """The operator's token list: a search and filters, all optional."""

    q = forms.CharField(label="Search", required=False, max_length=100, help_text="Number, name or driver e-mail.")
    status = forms.ChoiceField(label="Status", required=False, choices=[("", "Any status"), *IdToken.Status.choices])
    type = forms.ChoiceField(label="Type", required=False, choices=[("", "Any type"), *IdToken.Type.choices])
    driver = forms.CharField(label="Driver e-mail", required=False, max_length=254)
    group = forms.CharField(label="Group token", required=False, max_length=36)


class IdTokenIssueForm(forms.Form):
    """An operator issues a card: to a driver, or unassigned (a driver adds it later with its code)."""

    token = forms.CharField(label="Card number", max_length=64)
    type = forms.ChoiceField(label="Type", choices=IdToken.Type.choices, initial=IdToken.Type.ISO14443)
    driver = forms.EmailField(
        label="Driver e-mail (optional)", required=False, help_text="Empty: unassigned, for a driver to add."
    )
    group = forms.CharField(label="Group token (optional)", required=False, max_length=36)
    label = forms.CharField(label="Name (optional)", required=False, max_length=100)
    expires_at = forms.DateTimeField(
        label="Valid until (optional)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    activation_code = forms.BooleanField(
        label="Give it an activation code to print on the card",
        required=False,
        initial=True,
        help_text="A driver adding the card must type it; without one, their claim waits for your approval.",
    )

    def clean(self):
        from accounts.token_formats import clean_token_number

        cleaned = super().clean()
        if "token" in cleaned and "type" in cleaned:
            try:
                cleaned["token"] = clean_token_number(cleaned["token"], cleaned["type"])
            except ValidationError as exc:
                self.add_error("token", exc)
            else:
                if IdToken.objects.filter(token=cleaned["token"]).exists():
                    self.add_error("token", "A token with this number exists already: find it in the list.")
        if cleaned.get("driver"):
            user = get_user_model().objects.filter(email__iexact=cleaned["driver"], is_active=True).first()
            if user is None:
                self.add_error("driver", "No active account has this e-mail address.")
            cleaned["owner"] = user
        if cleaned.get("group"):
            parent = IdToken.objects.filter(token=normalize_token(cleaned["group"])).first()
            if parent is None:
                self.add_error("group", "There is no token with this number to group under.")
            cleaned["parent"] = parent
        return cleaned


class IdTokenImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="First row: token, and any of type, status, expiry, parent, owner, label, activation_code. "
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
    message = forms.ChoiceField(
        required=False, choices=[("", "All messages"), *IdTokenEvent.Message.choices], label="Asked by"
    )
    q = forms.CharField(required=False, label="Token", max_length=36)
