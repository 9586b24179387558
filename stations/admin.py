from django import forms
from django.contrib import admin
from django.db import models

from stations.models import (
    Alert,
    AlertChannel,
    AlertDelivery,
    AlertEvent,
    ConfigurationKey,
    Connector,
    ConnectorStatusEvent,
    FirmwareImage,
    MaintenanceJob,
    MaintenanceTarget,
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
        "ocpp_id", "name", "site", "registration_status", "is_online", "ocpp_version", "vendor", "model",
        "firmware_version", "last_seen_at",
    ]
    list_filter = ["is_online", "registration_status", "ocpp_version", "site", "vendor"]
    search_fields = ["ocpp_id", "name", "serial_number", "vendor", "model"]
    readonly_fields = [
        "ocpp_version", "vendor", "model", "serial_number", "charge_box_serial_number", "firmware_version",
        "iccid", "imsi", "meter_type", "meter_serial_number", "is_online", "connected_at", "last_boot_at",
        "last_heartbeat_at", "last_seen_at", "firmware_status", "firmware_status_at", "diagnostics_status",
        "diagnostics_status_at",
    ]
    inlines = [ConnectorInline]


@admin.register(Connector)
class ConnectorAdmin(admin.ModelAdmin):
    list_display = ["station", "connector_id", "status", "error_code", "power_w", "soc_percent", "status_at"]
    list_filter = ["status"]
    search_fields = ["station__ocpp_id"]


@admin.register(ConnectorStatusEvent)
class ConnectorStatusEventAdmin(admin.ModelAdmin):
    list_display = ["station", "connector_id", "status", "error_code", "timestamp"]
    list_filter = ["status", "error_code"]
    search_fields = ["station__ocpp_id"]
    raw_id_fields = ["station"]


@admin.register(OcppMessage)
class OcppMessageAdmin(admin.ModelAdmin):
    list_display = ["created_at", "station", "direction", "message_type", "action", "unique_id", "error_code"]
    list_filter = ["direction", "message_type", "action"]
    search_fields = ["station__ocpp_id", "unique_id", "action"]
    raw_id_fields = ["station"]


@admin.register(StationCommand)
class StationCommandAdmin(admin.ModelAdmin):
    list_display = ["created_at", "station", "action", "status", "requested_by", "answered_at"]
    list_filter = ["status", "action"]
    search_fields = ["station__ocpp_id", "action"]
    raw_id_fields = ["station", "requested_by"]


@admin.register(ConfigurationKey)
class ConfigurationKeyAdmin(admin.ModelAdmin):
    list_display = ["station", "key", "value", "readonly", "reported_at"]
    list_filter = ["readonly", "key"]
    search_fields = ["station__ocpp_id", "key", "value"]
    raw_id_fields = ["station"]


class AlertEventInline(admin.TabularInline):
    model = AlertEvent
    extra = 0
    can_delete = False
    fields = readonly_fields = ["at", "kind", "message", "actor"]

    def has_add_permission(self, request, obj=None):
        return False


class AlertDeliveryInline(admin.TabularInline):
    model = AlertDelivery
    extra = 0
    can_delete = False
    fields = readonly_fields = ["channel", "trigger", "status", "attempts", "next_attempt_at", "sent_at", "last_error"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    """Alerts open and close by themselves (see stations.alerts); here they are read, not made."""

    list_display = ["opened_at", "station", "kind", "severity", "summary", "closed_at", "acknowledged_at"]
    list_filter = ["kind", "severity", ("closed_at", admin.EmptyFieldListFilter)]
    search_fields = ["station__ocpp_id", "summary"]
    readonly_fields = [
        "station", "kind", "severity", "subject", "connector_id", "transaction", "summary", "details", "opened_at",
        "closed_at", "close_reason", "acknowledged_at", "acknowledged_by",
    ]
    inlines = [AlertEventInline, AlertDeliveryInline]

    def has_add_permission(self, request):
        return False


@admin.register(AlertChannel)
class AlertChannelAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "min_severity", "notify_on_close", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "emails", "url"]
    filter_horizontal = ["sites"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "alert", "channel", "trigger", "status", "attempts", "next_attempt_at", "sent_at"]
    list_filter = ["status", "trigger", "channel"]
    readonly_fields = ["alert", "channel", "trigger", "created_at", "sent_at", "last_error"]
    raw_id_fields = ["alert"]


@admin.register(FirmwareImage)
class FirmwareImageAdmin(admin.ModelAdmin):
    """Firmware is uploaded on the portal's firmware page or through the API, where its size and checksum are taken."""

    list_display = ["name", "version", "vendor", "model", "size", "created_at", "uploaded_by"]
    search_fields = ["name", "version", "vendor", "model", "sha256"]
    readonly_fields = ["file", "size", "sha256", "uploaded_by", "created_at"]

    def has_add_permission(self, request):
        return False


class MaintenanceTargetInline(admin.TabularInline):
    model = MaintenanceTarget
    extra = 0
    can_delete = False
    fields = readonly_fields = [
        "station", "status", "progress", "detail", "command", "downloads", "file_name", "started_at", "finished_at",
    ]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(MaintenanceJob)
class MaintenanceJobAdmin(admin.ModelAdmin):
    """Jobs are created from the station page, the bulk form or the API, where their parameters are checked."""

    list_display = ["created_at", "kind", "status", "created_by", "finished_at"]
    list_filter = ["kind", "status"]
    readonly_fields = ["kind", "params", "firmware", "status", "created_by", "created_at", "started_at", "finished_at"]
    inlines = [MaintenanceTargetInline]

    def has_add_permission(self, request):
        return False
