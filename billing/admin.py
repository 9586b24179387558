"""Admin for billing: operators, tariffs, priced sessions, invoices, payments, wallets, subscriptions.

Money moves only through the services: issuing, crediting, collecting, adjusting a wallet and pricing a
session are admin actions or add forms that call them. Issued invoices are read only.
"""

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from billing import services
from billing.models import (
    BillingProfile,
    DriverGroup,
    Invoice,
    InvoiceLine,
    Operator,
    OperatorSite,
    Payment,
    PaymentAttempt,
    Refund,
    SessionCharge,
    Subscription,
    SubscriptionPlan,
    SubscriptionRenewal,
    Tariff,
    TariffPeriod,
    Wallet,
    WalletEntry,
)

TARIFF_PRICE_FIELDS = [
    "currency",
    "tax_rate",
    "valid_from",
    "price_per_kwh",
    "price_per_minute",
    "start_fee",
    "idle_price_per_minute",
    "idle_grace_minutes",
    "min_price",
    "max_price",
    "min_billable_energy_wh",
    "station",
    "site",
    "driver_group",
]


def _all_fields(model) -> list[str]:
    return [field.name for field in model._meta.concrete_fields]


class OperatorSiteInline(admin.TabularInline):
    model = OperatorSite
    extra = 0
    raw_id_fields = ["site"]


@admin.register(Operator)
class OperatorAdmin(admin.ModelAdmin):
    list_display = ["name", "legal_name", "vat_id", "invoicing_mode", "invoice_prefix", "timezone", "is_default"]
    search_fields = ["name", "legal_name", "vat_id"]
    inlines = [OperatorSiteInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # Invoices that waited for these details go out once they are complete.
        if not obj.missing_legal_details():
            issued = services.invoices_issue_waiting()
            if issued:
                messages.success(request, f"{issued} invoice(s) that waited for these details were issued.")


@admin.register(DriverGroup)
class DriverGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "description"]
    search_fields = ["name"]
    raw_id_fields = ["members"]


class TariffPeriodInline(admin.TabularInline):
    model = TariffPeriod
    extra = 0

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not (obj and _tariff_in_use(obj))

    has_add_permission = has_delete_permission = has_change_permission


def _tariff_in_use(tariff: Tariff) -> bool:
    return SessionCharge.objects.filter(tariff=tariff).exists()


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "scope_display",
        "currency",
        "price_per_kwh",
        "price_per_minute",
        "start_fee",
        "idle_price_per_minute",
        "valid_from",
        "valid_until",
    ]
    list_filter = ["currency", "driver_group"]
    search_fields = ["name", "station__ocpp_id", "site__name"]
    raw_id_fields = ["station", "site"]
    inlines = [TariffPeriodInline]
    actions = ["new_version_now"]

    @admin.display(description="applies to")
    def scope_display(self, tariff):
        return tariff.scope

    def get_readonly_fields(self, request, obj=None):
        # A tariff that has priced sessions is history: new prices go into a new version.
        if obj is not None and _tariff_in_use(obj):
            return TARIFF_PRICE_FIELDS
        return []

    @admin.action(description="Start a new version now (copy; edit the copy's prices)")
    def new_version_now(self, request, queryset):
        for tariff in queryset:
            try:
                new = services.tariff_new_version(tariff=tariff)
            except ValidationError as error:
                self.message_user(request, f"{tariff}: {' '.join(error.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{tariff} ends now; edit the prices of its new version #{new.pk}.")


class PriceSessionForm(forms.ModelForm):
    """Adding a priced session prices it with the services, exactly as the Celery task does."""

    class Meta:
        model = SessionCharge
        fields = ["transaction"]

    def clean_transaction(self):
        session = self.cleaned_data["transaction"]
        if session.stopped_at is None:
            raise forms.ValidationError("This session has not stopped yet.")
        return session


@admin.register(SessionCharge)
class SessionChargeAdmin(admin.ModelAdmin):
    list_display = [
        "transaction",
        "status",
        "user",
        "energy_wh",
        "gross_amount",
        "currency",
        "tariff",
        "invoice",
        "session_started_at",
    ]
    list_filter = ["status", "currency", "operator"]
    search_fields = ["transaction__id", "user__email", "transaction__station__ocpp_id"]
    date_hierarchy = "session_started_at"
    raw_id_fields = ["transaction"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = PriceSessionForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return _all_fields(SessionCharge) if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            return
        obj.pk = services.session_charge_create(transaction_id=obj.transaction_id).pk


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    fields = ["position", "description", "quantity", "unit", "unit_price", "net_amount", "tax_rate", "session_charge"]
    raw_id_fields = ["session_charge"]

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or obj.status == Invoice.Status.DRAFT)

    has_add_permission = has_delete_permission = has_change_permission


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    """Drafts (a statement being filled, or a manual invoice) are editable; issued invoices are not."""

    list_display = [
        "__str__",
        "kind",
        "purpose",
        "customer",
        "operator",
        "gross_total",
        "currency",
        "status",
        "issued_at",
    ]
    list_filter = ["status", "kind", "purpose", "operator", "currency"]
    search_fields = ["number", "customer__email"]
    date_hierarchy = "issued_at"
    raw_id_fields = ["customer", "credited_invoice"]
    inlines = [InvoiceLineInline]
    actions = ["issue", "credit_in_full"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != Invoice.Status.DRAFT:
            return _all_fields(Invoice)
        return [
            "number",
            "status",
            "issued_at",
            "due_at",
            "paid_at",
            "issuer",
            "customer_details",
            "net_total",
            "tax_total",
            "gross_total",
            "tax_breakdown",
            "credited_invoice",
        ]

    @admin.action(description="Issue the selected drafts (number them, collect payment)")
    def issue(self, request, queryset):
        for invoice in queryset.filter(status=Invoice.Status.DRAFT):
            services.invoice_finalize(invoice=invoice)
        self.message_user(request, "Drafts issued.")

    @admin.action(description="Credit the selected invoices in full (refund what was paid)")
    def credit_in_full(self, request, queryset):
        for invoice in queryset:
            try:
                note = services.invoice_credit(invoice=invoice, reason=f"Credited by {request.user.email}")
            except ValidationError as error:
                self.message_user(request, f"{invoice}: {' '.join(error.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{invoice}: credit note {note.number} ({note.get_status_display()}).")


class PaymentAttemptInline(admin.TabularInline):
    model = PaymentAttempt
    extra = 0
    can_delete = False
    readonly_fields = _all_fields(PaymentAttempt)

    def has_add_permission(self, request, obj=None):
        return False


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    can_delete = False
    readonly_fields = _all_fields(Refund)

    def has_add_permission(self, request, obj=None):
        return False


class CollectInvoiceForm(forms.ModelForm):
    """Adding a payment starts collecting an issued invoice that has none."""

    class Meta:
        model = Payment
        fields = ["invoice"]

    def clean_invoice(self):
        invoice = self.cleaned_data["invoice"]
        if invoice.status != Invoice.Status.OPEN or invoice.kind != Invoice.Kind.INVOICE:
            raise forms.ValidationError("Only an issued, unpaid invoice can be collected.")
        return invoice


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = [
        "invoice",
        "user",
        "method",
        "amount",
        "currency",
        "status",
        "attempts",
        "next_retry_at",
        "last_error_code",
    ]
    list_filter = ["status", "method", "currency"]
    search_fields = ["invoice__number", "user__email", "gateway_reference"]
    raw_id_fields = ["invoice"]
    inlines = [PaymentAttemptInline, RefundInline]
    actions = ["retry_now", "settled_elsewhere"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = CollectInvoiceForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return _all_fields(Payment) if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            return
        from billing.services.payments import payment_create

        obj.pk = payment_create(invoice=obj.invoice).pk

    @admin.action(description="Try to collect now")
    def retry_now(self, request, queryset):
        for payment in queryset:
            payment = services.payment_collect(payment_id=payment.pk, force=True)
            self.message_user(request, f"{payment.invoice}: {payment.get_status_display()}")

    @admin.action(description="Mark as paid another way (bank transfer, cash)")
    def settled_elsewhere(self, request, queryset):
        for payment in queryset:
            services.payment_settled_elsewhere(payment=payment, by=request.user)
        self.message_user(request, "Marked as paid.")


@admin.register(BillingProfile)
class BillingProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "payment_method", "card_brand", "card_last4", "billing_name", "vat_id"]
    list_filter = ["payment_method"]
    search_fields = ["user__email", "billing_name", "vat_id", "stripe_customer_id"]
    raw_id_fields = ["user"]
    readonly_fields = ["stripe_customer_id", "card_payment_method_id", "card_brand", "card_last4"]


class WalletEntryInline(admin.TabularInline):
    model = WalletEntry
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "amount", "balance_after", "reference", "description", "created_by"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    list_display = ["user", "balance", "currency", "updated_at"]
    search_fields = ["user__email"]
    raw_id_fields = ["user"]
    inlines = [WalletEntryInline]

    def get_readonly_fields(self, request, obj=None):
        # The balance changes only through entries (WalletEntry → add: a manual adjustment).
        return ["balance", "currency"] if obj else ["balance"]


class WalletAdjustmentForm(forms.ModelForm):
    user = forms.ModelChoiceField(queryset=Wallet._meta.get_field("user").related_model.objects.all())

    class Meta:
        model = WalletEntry
        fields = ["user", "amount", "description"]
        help_texts = {"amount": "Positive credits the wallet, negative debits it.", "description": "Why (required)."}


@admin.register(WalletEntry)
class WalletEntryAdmin(admin.ModelAdmin):
    """Every wallet movement. Adding one is a manual adjustment, booked through the wallet service."""

    list_display = ["created_at", "wallet", "kind", "amount", "balance_after", "reference", "created_by"]
    list_select_related = ["wallet__user", "created_by"]
    list_filter = ["kind"]
    search_fields = ["wallet__user__email", "reference", "description"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = WalletAdjustmentForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return _all_fields(WalletEntry) if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            return
        entry = services.wallet_adjust(
            user=form.cleaned_data["user"],
            amount=form.cleaned_data["amount"],
            reason=form.cleaned_data["description"],
            by=request.user,
            reference=f"adjustment:{uuid.uuid4()}",
        )
        obj.pk = entry.pk


@admin.register(SubscriptionPlan)
class SubscriptionPlanAdmin(admin.ModelAdmin):
    list_display = ["name", "monthly_fee", "currency", "included_energy_wh", "energy_discount_percent", "is_active"]
    list_filter = ["is_active"]


class SubscriptionRenewalInline(admin.TabularInline):
    model = SubscriptionRenewal
    extra = 0
    can_delete = False
    readonly_fields = ["period_start", "period_end", "invoice"]

    def has_add_permission(self, request, obj=None):
        return False


class SubscribeForm(forms.ModelForm):
    class Meta:
        model = Subscription
        fields = ["user", "plan"]

    def clean(self):
        data = super().clean()
        live = [Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE]
        if data.get("user") and Subscription.objects.filter(user=data["user"], status__in=live).exists():
            raise forms.ValidationError("This driver already has a subscription.")
        if data.get("plan") and not data["plan"].is_active:
            raise forms.ValidationError("This plan is no longer offered.")
        return data


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "plan",
        "status",
        "current_period_start",
        "current_period_end",
        "included_wh_used",
        "cancel_at_period_end",
    ]
    list_filter = ["status", "plan"]
    search_fields = ["user__email"]
    raw_id_fields = ["user"]
    inlines = [SubscriptionRenewalInline]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = SubscribeForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return (
            [
                "user",
                "plan",
                "status",
                "current_period_start",
                "current_period_end",
                "included_wh_used",
                "started_at",
                "cancelled_at",
            ]
            if obj
            else []
        )

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # Subscribing bills the first month, as when the driver subscribes.
        obj.pk = services.subscription_start(user=obj.user, plan=obj.plan).pk
