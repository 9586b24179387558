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
