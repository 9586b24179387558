from django.contrib import admin

from sessions.models import MeterSample, Transaction


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    list_display = [
        "id", "station", "connector_id", "id_tag", "status", "started_at", "stopped_at", "energy_wh", "stop_reason",
    ]
    list_filter = ["status", "stop_reason"]
    search_fields = ["id_tag", "station__ocpp_id", "ocpp_transaction_id"]
    raw_id_fields = ["station", "id_token", "user"]
    date_hierarchy = "started_at"


@admin.register(MeterSample)
class MeterSampleAdmin(admin.ModelAdmin):
    list_display = ["timestamp", "station", "connector_id", "transaction", "measurand", "phase", "value", "unit"]
    list_filter = ["measurand", "context"]
    raw_id_fields = ["station", "transaction"]
