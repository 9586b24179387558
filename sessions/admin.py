"""Admin of charging sessions, their meter readings and reservations."""

from django.contrib import admin

from sessions.models import MeterSample, Reservation, Transaction, TransactionEvent


class TransactionEventInline(admin.TabularInline):
    """The OCPP 2.0.1 events the session was folded from, as the station sent them."""

    model = TransactionEvent
    extra = 0
    can_delete = False
    fields = readonly_fields = [
        "seq_no",
        "event_type",
        "timestamp",
        "trigger_reason",
        "offline",
        "stopped_reason",
        "charging_state",
        "evse_id",
        "id_token",
        "energy_register_wh",
        "received_at",
    ]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "station",
        "connector_id",
        "id_tag",
        "status",
        "authorization_status",
        "started_at",
        "stopped_at",
        "energy_wh",
        "meter_mismatch",
        "stop_reason",
    ]
    list_filter = ["status", "authorization_status", "meter_mismatch", "stop_reason"]
    search_fields = ["=id", "id_tag", "station__ocpp_id", "ocpp_transaction_id"]
    raw_id_fields = ["station", "id_token", "user"]
    readonly_fields = ["created_at", "updated_at"]
    date_hierarchy = "started_at"
    inlines = [TransactionEventInline]

    def has_add_permission(self, request):
        """A session is what a station recorded and billing priced; one typed in here would be neither."""
        return False


@admin.register(MeterSample)
class MeterSampleAdmin(admin.ModelAdmin):
    """Readings as the station sent them: never added by hand."""

    list_display = [
        "timestamp",
        "station",
        "connector_id",
        "transaction",
        "measurand",
        "phase",
        "location",
        "context",
        "value",
        "unit",
    ]
    list_filter = ["measurand", "context", "location"]
    search_fields = ["station__ocpp_id", "=transaction__id"]
    raw_id_fields = ["station", "transaction"]
    date_hierarchy = "timestamp"

    def has_add_permission(self, request):
        return False


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    """Reservations are made and cancelled through the operator's page or the API (they talk to the station)."""

    list_display = ["id", "station", "connector_id", "id_tag", "expires_at", "status", "transaction", "created_at"]
    list_filter = ["status"]
    search_fields = ["id_tag", "station__ocpp_id"]
    list_select_related = ["station"]
    readonly_fields = [field.name for field in Reservation._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
