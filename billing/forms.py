"""Forms of the billing portal pages."""

from decimal import Decimal

from django import forms

from billing.app_settings import app_settings
from billing.models import BillingProfile, Invoice, Operator, SubscriptionPlan


class TopUpForm(forms.Form):
    amount = forms.DecimalField(max_digits=10, decimal_places=2, min_value=Decimal("0.01"))

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        low, high = app_settings.TOP_UP_LIMITS
        if not low <= amount <= high:
            raise forms.ValidationError(f"Top up between {low} and {high}.")
        return amount


class TestTopUpForm(TopUpForm):
    """A top-up paid with the test payment method; ``key`` (drawn when the form is shown) makes a resubmission
    book once."""

    key = forms.UUIDField(widget=forms.HiddenInput)


class WalletCreditForm(forms.Form):
    """An operator's credit to a driver's wallet (goodwill, a bank transfer received)."""

    driver = forms.EmailField(label="Driver's e-mail address")
    amount = forms.DecimalField(max_digits=10, decimal_places=2, min_value=Decimal("0.01"), max_value=Decimal("1000"))
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
    class Meta:
        model = BillingProfile
        fields = ["payment_method", "billing_name", "billing_address", "vat_id"]
        widgets = {"billing_address": forms.Textarea(attrs={"rows": 3})}


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
