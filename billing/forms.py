"""Forms of the billing portal pages."""

from decimal import Decimal

from django import forms

from billing.app_settings import app_settings
from billing.models import BillingProfile, Invoice, Operator, SubscriptionPlan
from billing.vat import vat_id_clean

OPERATOR_WALLET_LIMITS = (Decimal("0.01"), Decimal("1000"))


class WalletAmountField(forms.DecimalField):
    """An amount of money between ``limits``: every way of being out of range (too small, too large, too many
    digits or decimals) gets the one message stating the range, as the page states it."""

    def __init__(self, *, limits=OPERATOR_WALLET_LIMITS, what: str = "Enter an amount", **kwargs):
        low, high = limits
        message = f"{what} between {low:.2f} and {high:.2f} {app_settings.CURRENCY}, e.g. {max(low, Decimal(20)):.2f}."
        kwargs.setdefault("label", "Amount")
        kwargs.setdefault("help_text", f"Between {low:.2f} and {high:.2f} {app_settings.CURRENCY}.")
        super().__init__(
            max_digits=12,
            decimal_places=2,
            min_value=low,
            max_value=high,
            error_messages={
                name: message for name in ("invalid", "min_value", "max_value", "max_digits", "max_whole_digits")
            }
            | {"max_decimal_places": f"Use at most 2 decimals, e.g. {max(low, Decimal(20)):.2f}."},
            **kwargs,
        )


class TopUpForm(forms.Form):
    amount = forms.DecimalField()  # replaced per instance: the limits are settings

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"] = WalletAmountField(limits=app_settings.TOP_UP_LIMITS, what="Top up")


class TestTopUpForm(TopUpForm):
    """A top-up paid with the test payment method; ``key`` (drawn when the form is shown) makes a resubmission
    book once."""

    key = forms.UUIDField(widget=forms.HiddenInput)


class WalletCreditForm(forms.Form):
    """An operator's credit to a driver's wallet (goodwill, a bank transfer received)."""

    driver = forms.EmailField(label="Driver's e-mail address")
    amount = WalletAmountField(what="Credit")
    reason = forms.CharField(max_length=255, help_text="Kept in the wallet's ledger, shown to the driver.")

    def clean_driver(self):
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.filter(email__iexact=self.cleaned_data["driver"], is_active=True).first()
        if user is None:
            raise forms.ValidationError("No active account has this e-mail address.")
        return user

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why the wallet is credited.")
        return reason


class BillingProfileForm(forms.ModelForm):
    billing_address = forms.CharField(
        label="Billing address",
        required=False,
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="At most 6 lines and 300 characters, as printed on your invoices.",
    )

    class Meta:
        model = BillingProfile
        fields = ["payment_method", "billing_name", "billing_address", "vat_id"]
        labels = {"billing_name": "Name on invoices", "vat_id": "VAT id (businesses)"}
        help_texts = {"vat_id": "With its country code, e.g. DE136695976."}

    def clean_billing_name(self) -> str:
        return " ".join(self.cleaned_data["billing_name"].split())

    def clean_billing_address(self) -> str:
        lines = [line.strip() for line in self.cleaned_data["billing_address"].splitlines() if line.strip()]
        if len(lines) > 6:
            raise forms.ValidationError("An address has at most 6 lines.")
        return "\n".join(lines)

    def clean_vat_id(self) -> str:
        return vat_id_clean(self.cleaned_data["vat_id"])


class SubscribeForm(forms.Form):
    plan = forms.ModelChoiceField(queryset=SubscriptionPlan.objects.filter(is_active=True), empty_label=None)


class InvoiceFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *Invoice.Status.choices], required=False)
    kind = forms.ChoiceField(choices=[("", "Invoices and credit notes"), *Invoice.Kind.choices], required=False)
    purpose = forms.ChoiceField(choices=[("", "Any purpose"), *Invoice.Purpose.choices], required=False)
    operator = forms.ModelChoiceField(queryset=Operator.objects.all(), required=False, empty_label="Any operator")
    customer = forms.CharField(required=False, label="Customer e-mail contains")
    number = forms.CharField(required=False)
    issued_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    issued_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


class IssuerDetailsForm(forms.ModelForm):
    """The operator's details printed on its invoices; all of ``Operator.LEGAL_DETAILS`` are required here, so
    that saving the page is what releases the invoices waiting for them."""

    class Meta:
        model = Operator
        fields = ["legal_name", "address", "vat_id", "email", "invoice_prefix"]
        widgets = {"address": forms.Textarea(attrs={"rows": 4})}
        help_texts = {"vat_id": "With its country code, e.g. DE136695976.", "email": "Printed for questions."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, _label in Operator.LEGAL_DETAILS:
            self.fields[name].required = True

    def clean_legal_name(self) -> str:
        return " ".join(self.cleaned_data["legal_name"].split())

    def clean_address(self) -> str:
        lines = [line.strip() for line in self.cleaned_data["address"].splitlines() if line.strip()]
        if not lines:
            raise forms.ValidationError("This field is required.")
        if len(lines) > 6:
            raise forms.ValidationError("An address has at most 6 lines.")
        return "\n".join(lines)

    def clean_vat_id(self) -> str:
        return vat_id_clean(self.cleaned_data["vat_id"])
