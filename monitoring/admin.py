from django.contrib import admin
from django.db import models

from monitoring.models import (
    Alert,
    AlertChannel,
    AlertDelivery,
    AlertEvent,
    CustomerInformationRequest,
    DisplayMessage,
    FirmwareImage,
    MaintenanceJob,
    MaintenanceTarget,
    VariableMonitor,
)


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
    """Alerts open and close by themselves (see monitoring.alerts); here they are read, not made."""

    list_display = ["opened_at", "station", "kind", "severity", "summary", "closed_at", "acknowledged_at"]
    list_filter = ["kind", "severity", ("closed_at", admin.EmptyFieldListFilter)]
    search_fields = ["station__ocpp_id", "summary"]
    readonly_fields = [
        "station",
        "kind",
        "severity",
        "subject",
        "connector_id",
        "transaction",
        "summary",
        "details",
        "opened_at",
        "closed_at",
        "close_reason",
        "acknowledged_at",
        "acknowledged_by",
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
    """Deliveries are made by the alerting itself, one per alert, channel and trigger: never added by hand."""

    list_display = ["created_at", "alert", "channel", "trigger", "status", "attempts", "next_attempt_at", "sent_at"]
    list_filter = ["status", "trigger", "channel"]
    readonly_fields = ["alert", "channel", "trigger", "created_at", "sent_at", "last_error"]
    raw_id_fields = ["alert"]

    def has_add_permission(self, request):
        return False


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
        "station",
        "status",
        "progress",
        "detail",
        "command",
        "downloads",
        "file_name",
        "started_at",
        "finished_at",
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


class StationMirrorAdmin(admin.ModelAdmin):
    """What a 2.0.1 station accepted or reported: changed through the station's pages, which ask the station."""

    list_select_related = ["station"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(VariableMonitor)
class VariableMonitorAdmin(StationMirrorAdmin):
    list_display = ["station", "monitor_id", "component_name", "evse_id", "variable_name", "type", "value", "severity"]
    list_filter = ["type", "severity"]
    search_fields = ["station__ocpp_id", "component_name", "variable_name"]


@admin.register(DisplayMessage)
class DisplayMessageAdmin(StationMirrorAdmin):
    list_display = ["station", "message_id", "priority", "state", "content", "starts_at", "ends_at"]
    list_filter = ["priority", "state"]
    search_fields = ["station__ocpp_id", "content"]


@admin.register(CustomerInformationRequest)
class CustomerInformationRequestAdmin(StationMirrorAdmin):
    list_display = ["station", "request_id", "report", "clear", "status", "created_at", "requested_by"]
    search_fields = ["station__ocpp_id"]
