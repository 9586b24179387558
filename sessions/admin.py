"""Admin of charging sessions and their meter readings."""

from django.contrib import admin

from sessions.models import MeterSample, Transaction


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    list_display = [
        "id", "station", "connector_id", "id_tag", "status", "authorization_status", "started_at", "stopped_at",
        "energy_wh", "meter_mismatch", "stop_reason",
    ]
    list_filter = ["status", "authorization_status", "meter_mismatch", "stop_reason"]
    search_fields = ["=id", "id_tag", "station__ocpp_id", "ocpp_transaction_id"]
    raw_id_fields = ["station", "id_token", "user"]
    readonly_fields = ["created_at", "updated_at"]
    date_hierarchy = "started_at"


@admin.register(MeterSample)
class MeterSampleAdmin(admin.ModelAdmin):
    list_display = [
        "timestamp", "station", "connector_id", "transaction", "measurand", "phase", "location", "context", "value",
        "unit",
    ]
    list_filter = ["measurand", "context", "location"]
    search_fields = ["station__ocpp_id", "=transaction__id"]
    raw_id_fields = ["station", "transaction"]
    date_hierarchy = "timestamp"
