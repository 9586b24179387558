from django import forms
from django.contrib import admin

from stations.models import (
    ConfigurationKey,
    Connector,
    ConnectorStatusEvent,
    OcppMessage,
    Site,
    Station,
    StationCommand,
)


class StationForm(forms.ModelForm):
    new_password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="The station's Basic-auth password (security profile 1). Leave empty to keep the current one.",
    )

    class Meta:
        model = Station
        fields = ["ocpp_id", "name", "site", "registration_status", "new_password"]

    def save(self, commit=True):
        station = super().save(commit=False)
        if self.cleaned_data.get("new_password"):
            station.set_password(self.cleaned_data["new_password"])
        if commit:
            station.save()
        return station


class ConnectorInline(admin.TabularInline):
    model = Connector
    extra = 0
    readonly_fields = ["status", "error_code", "status_at", "power_w", "soc_percent", "measured_at"]


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["name", "address", "timezone"]
    search_fields = ["name", "address"]


@admin.register(Station)
class StationAdmin(admin.ModelAdmin):
    form = StationForm
    list_display = [
        "ocpp_id",
        "name",
        "site",
        "registration_status",
        "is_online",
        "ocpp_version",
        "vendor",
        "model",
        "firmware_version",
        "last_seen_at",
    ]
    list_filter = ["is_online", "registration_status", "ocpp_version", "site", "vendor"]
    search_fields = ["ocpp_id", "name", "serial_number", "vendor", "model"]
    readonly_fields = [
        "security_profile",  # changed on the station page or through the API, where lowering takes a confirmation
        "ocpp_version",
        "vendor",
        "model",
        "serial_number",
        "charge_box_serial_number",
        "firmware_version",
        "iccid",
        "imsi",
        "meter_type",
        "meter_serial_number",
        "is_online",
        "connected_at",
        "last_boot_at",
        "last_heartbeat_at",
        "last_seen_at",
        "firmware_status",
        "firmware_status_at",
        "diagnostics_status",
        "diagnostics_status_at",
    ]
    inlines = [ConnectorInline]


@admin.register(Connector)
class ConnectorAdmin(admin.ModelAdmin):
    list_display = ["station", "connector_id", "status", "error_code", "power_w", "soc_percent", "status_at"]
    list_filter = ["status"]
    search_fields = ["station__ocpp_id"]


class RecordedAdmin(admin.ModelAdmin):
    """What a station sent or was sent, and what it reported: recorded as it happened, never added by hand (an
    added command would not reach the station, an added key would not change it)."""

    def has_add_permission(self, request):
        return False


@admin.register(ConnectorStatusEvent)
class ConnectorStatusEventAdmin(RecordedAdmin):
    list_display = ["station", "connector_id", "status", "error_code", "timestamp"]
    list_filter = ["status", "error_code"]
    search_fields = ["station__ocpp_id"]
    raw_id_fields = ["station"]


@admin.register(OcppMessage)
class OcppMessageAdmin(RecordedAdmin):
    list_display = ["created_at", "station", "direction", "message_type", "action", "unique_id", "error_code"]
    list_filter = ["direction", "message_type", "action"]
    search_fields = ["station__ocpp_id", "unique_id", "action"]
    raw_id_fields = ["station"]


@admin.register(StationCommand)
class StationCommandAdmin(RecordedAdmin):
    list_display = ["created_at", "station", "action", "status", "requested_by", "answered_at"]
    list_filter = ["status", "action"]
    search_fields = ["station__ocpp_id", "action"]
    raw_id_fields = ["station", "requested_by"]


@admin.register(ConfigurationKey)
class ConfigurationKeyAdmin(RecordedAdmin):
    list_display = ["station", "key", "value", "readonly", "reported_at"]
    list_filter = ["readonly", "key"]
    search_fields = ["station__ocpp_id", "key", "value"]
    raw_id_fields = ["station"]
