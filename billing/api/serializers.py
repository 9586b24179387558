"""Serializers of the billing API."""

from django.db import transaction
from rest_framework import serializers

from billing.models import Invoice, InvoiceLine, Payment, Tariff, TariffPeriod, Wallet, WalletEntry
from billing.services.tariffs import TARIFF_FIELDS


class TariffPeriodSerializer(serializers.ModelSerializer):
    class Meta:
        model = TariffPeriod
        fields = [
            "name",
            "position",
            "weekdays",
            "start_time",
            "end_time",
            "price_per_kwh",
            "price_per_minute",
            "idle_price_per_minute",
        ]


class TariffSerializer(serializers.ModelSerializer):
    periods = TariffPeriodSerializer(many=True, required=False)

    class Meta:
        model = Tariff
        fields = ["id", *TARIFF_FIELDS, "periods"]

    def validate(self, attrs):
        instance = Tariff(**{k: v for k, v in attrs.items() if k != "periods"})
        if self.instance is not None:
            for field in self.Meta.fields:
                if field not in attrs and field not in ("id", "periods"):
                    setattr(instance, field, getattr(self.instance, field))
        instance.clean()
        return attrs

    @transaction.atomic
    def create(self, validated_data):
        periods = validated_data.pop("periods", [])
        tariff = Tariff.objects.create(**validated_data)
        TariffPeriod.objects.bulk_create([TariffPeriod(tariff=tariff, **period) for period in periods])
        return tariff

    @transaction.atomic
    def update(self, instance, validated_data):
        periods = validated_data.pop("periods", None)
        tariff = super().update(instance, validated_data)
        if periods is not None:
            tariff.periods.all().delete()
            TariffPeriod.objects.bulk_create([TariffPeriod(tariff=tariff, **period) for period in periods])
        return tariff


class InvoiceLineSerializer(serializers.ModelSerializer):
    transaction_id = serializers.IntegerField(
        source="session_charge.transaction_id", default=None, read_only=True, allow_null=True
    )

    class Meta:
        model = InvoiceLine
        fields = [
            "position",
            "description",
            "detail",
            "quantity",
            "unit",
            "unit_price",
            "net_amount",
            "tax_rate",
            "transaction_id",
        ]


class InvoiceSerializer(serializers.ModelSerializer):
    lines = InvoiceLineSerializer(many=True, read_only=True)
    operator = serializers.CharField(source="operator.name", read_only=True)
    customer_email = serializers.EmailField(source="customer.email", read_only=True)
    credited_invoice = serializers.CharField(
        source="credited_invoice.number",
        default=None,
        read_only=True,
        allow_null=True,
        help_text="For a credit note, the number of the invoice it credits.",
    )
    payment_status = serializers.CharField(source="payment.status", default=None, read_only=True, allow_null=True)
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "kind",
            "purpose",
            "status",
            "operator",
            "customer_email",
            "currency",
            "issued_at",
            "due_at",
            "paid_at",
            "period_start",
            "period_end",
            "net_total",
            "tax_total",
            "gross_total",
            "tax_breakdown",
            "credited_invoice",
            "reason",
            "payment_status",
            "lines",
            "pdf_url",
        ]

    def get_pdf_url(self, invoice) -> str:
        from django.urls import reverse

        return reverse("billing:invoice-pdf", args=[invoice.pk])


class WalletEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = WalletEntry
        fields = ["kind", "amount", "balance_after", "description", "created_at"]


class WalletSerializer(serializers.ModelSerializer):
    available = serializers.DecimalField(max_digits=14, decimal_places=4, read_only=True)
    entries = serializers.SerializerMethodField()

    class Meta:
        model = Wallet
        fields = ["currency", "balance", "available", "entries"]

    def get_entries(self, wallet) -> list[dict]:
        return WalletEntrySerializer(wallet.entries.all()[:50], many=True).data


class PaymentSerializer(serializers.ModelSerializer):
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)
    customer_email = serializers.EmailField(source="user.email", read_only=True)

    class Meta:
        model = Payment
        fields = [
            "id",
            "invoice",
            "invoice_number",
            "customer_email",
            "method",
            "amount",
            "currency",
            "status",
            "attempts",
            "next_retry_at",
            "last_error_code",
            "last_error_message",
            "updated_at",
        ]


class PriceLineSerializer(serializers.Serializer):
    kind = serializers.CharField()
    description = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=20, decimal_places=6)
    unit = serializers.CharField()
    unit_price = serializers.DecimalField(max_digits=20, decimal_places=6)
    amount = serializers.DecimalField(max_digits=20, decimal_places=6)


class PriceSerializer(serializers.Serializer):
    """A price (estimate, running cost): net rounded once, tax on it, gross."""

    tariff = serializers.CharField(allow_null=True)
    currency = serializers.CharField()
    energy_wh = serializers.IntegerField()
    charging_seconds = serializers.IntegerField()
    idle_seconds = serializers.IntegerField()
    net = serializers.DecimalField(max_digits=14, decimal_places=4)
    tax_rate = serializers.DecimalField(max_digits=5, decimal_places=2)
    tax = serializers.DecimalField(max_digits=14, decimal_places=4)
    gross = serializers.DecimalField(max_digits=14, decimal_places=4)
    free_reason = serializers.CharField()
    lines = PriceLineSerializer(many=True)


class NoPriceSerializer(serializers.Serializer):
    """Where no tariff applies: nothing to price."""

    tariff = serializers.CharField(allow_null=True, help_text="Always null.")
    detail = serializers.CharField()


class EstimateQuerySerializer(serializers.Serializer):
    station = serializers.CharField(help_text="The station's OCPP id.")
    energy_kwh = serializers.DecimalField(max_digits=8, decimal_places=3, min_value=0, max_value=1000)
    minutes = serializers.IntegerField(min_value=0, max_value=7 * 24 * 60)


class CanStartSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True)
