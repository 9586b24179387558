"""Admin of what stations reported of smart charging: read only (the stations are the source)."""

from django.contrib import admin

from smartcharging.models import ChargingProfileReport, EVChargingNeeds, EVChargingSchedule, ReportedChargingProfile


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReportedChargingProfileInline(admin.TabularInline):
    model = ReportedChargingProfile
    extra = 0
    can_delete = False
    fields = readonly_fields = ["evse_id", "purpose", "stack_level", "profile_id", "kind", "charging_limit_source"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ChargingProfileReport)
class ChargingProfileReportAdmin(ReadOnlyAdmin):
    list_display = ["id", "station", "request_id", "evse_id", "status", "requested", "parts", "created_at"]
    list_filter = ["status", "requested"]
    search_fields = ["station__ocpp_id"]
    list_select_related = ["station"]
    inlines = [ReportedChargingProfileInline]


@admin.register(EVChargingNeeds)
class EVChargingNeedsAdmin(ReadOnlyAdmin):
    list_display = ["station", "evse_id", "requested_energy_transfer", "departure_time", "received_at"]
    search_fields = ["station__ocpp_id"]
    list_select_related = ["station"]


@admin.register(EVChargingSchedule)
class EVChargingScheduleAdmin(ReadOnlyAdmin):
    list_display = ["station", "evse_id", "time_base", "received_at"]
    search_fields = ["station__ocpp_id"]
    list_select_related = ["station"]
