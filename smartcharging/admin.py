"""Admin of smart charging: what stations reported and what load management knows of them, read only (the stations
and load management are the source); connectors' load settings."""

from django.contrib import admin

from smartcharging import load
from smartcharging.models import (
    ChargingProfileReport,
    ConnectorLoadSettings,
    DriverChargingNeeds,
    EVChargingNeeds,
    EVChargingSchedule,
    ReportedChargingProfile,
    StationLoadState,
)


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


@admin.register(DriverChargingNeeds)
class DriverChargingNeedsAdmin(ReadOnlyAdmin):
    """The driver states them on their phone (their session page or the API); shown here, not edited."""

    list_display = ["transaction", "departure_at", "energy_kwh", "updated_at"]
    search_fields = ["transaction__station__ocpp_id", "transaction__id_token__token"]
    list_select_related = ["transaction"]


@admin.register(EVChargingSchedule)
class EVChargingScheduleAdmin(ReadOnlyAdmin):
    list_display = ["station", "evse_id", "time_base", "received_at"]
    search_fields = ["station__ocpp_id"]
    list_select_related = ["station"]


@admin.register(StationLoadState)
class StationLoadStateAdmin(ReadOnlyAdmin):
    """Load management writes it (``smartcharging.load``); changed here, it would disagree with what the station
    holds."""

    list_display = ["station", "failsafe_current_a", "failsafe_connected_at", "tx_profile_refused_at", "rejected_at"]
    # A date filter on a nullable field also offers "Has date" / "No date": whether it refuses.
    list_filter = ["tx_profile_refused_at", "rejected_at"]
    search_fields = ["station__ocpp_id"]
    list_select_related = ["station"]
    readonly_fields = [
        "station",
        "failsafe_connected_at",
        "failsafe_current_a",
        "tx_profile_refused_at",
        "rejected_at",
        "rejected_detail",
    ]


@admin.register(ConnectorLoadSettings)
class ConnectorLoadSettingsAdmin(admin.ModelAdmin):
    """What a connector can take and its priority; the site is shared again after a change (its limits are set in
    the operator's load pages and the API, which send the stations their new default profiles)."""

    list_display = ["station", "connector_id", "min_current_a", "max_current_a", "phases", "priority"]
    search_fields = ["station__ocpp_id"]
    autocomplete_fields = ["station"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if obj.station.site_id is not None:
            load.site_rebalance_soon(site_id=obj.station.site_id)
