"""Admin pages of the analytics data: rollups, offline periods, the reports sent."""

from django.contrib import admin

from analytics.models import (
    ConnectorDay,
    DriverDay,
    FaultDay,
    MonthlyReport,
    NetworkHour,
    RevenueDay,
    SiteHour,
    StationOfflinePeriod,
)


class RollupAdmin(admin.ModelAdmin):
    """Rollups are derived data, for looking at: ``manage.py analytics_rebuild`` recomputes any edit away, so
    none is added by hand."""

    def has_add_permission(self, request):
        return False


@admin.register(ConnectorDay)
class ConnectorDayAdmin(RollupAdmin):
    list_display = ["day", "station", "connector_id", "sessions", "energy_wh", "occupied_s", "down_s", "failures"]
    list_filter = ["day"]
    search_fields = ["station__ocpp_id"]
    date_hierarchy = "day"
    raw_id_fields = ["station"]


@admin.register(FaultDay)
class FaultDayAdmin(RollupAdmin):
    list_display = ["day", "station", "connector_id", "error_code", "faults"]
    list_filter = ["error_code"]
    search_fields = ["station__ocpp_id", "error_code"]
    raw_id_fields = ["station"]


@admin.register(DriverDay)
class DriverDayAdmin(RollupAdmin):
    list_display = ["day", "drivers"]
    date_hierarchy = "day"
    # The bitmaps are for SQL, not for reading.
    exclude = ["users", "tokens"]


@admin.register(RevenueDay)
class RevenueDayAdmin(RollupAdmin):
    list_display = ["day", "station", "tariff_id", "currency", "billable_sessions", "net_amount", "gross_amount"]
    list_filter = ["currency"]
    search_fields = ["station__ocpp_id"]
    date_hierarchy = "day"
    raw_id_fields = ["station"]


@admin.register(NetworkHour)
class NetworkHourAdmin(RollupAdmin):
    list_display = ["hour", "sessions", "energy_wh", "peak_demand_w"]
    date_hierarchy = "hour"


@admin.register(SiteHour)
class SiteHourAdmin(RollupAdmin):
    list_display = ["hour", "site", "sessions", "energy_wh", "peak_demand_w"]
    list_filter = ["site"]


@admin.register(StationOfflinePeriod)
class StationOfflinePeriodAdmin(RollupAdmin):
    list_display = ["station", "started_at", "ended_at"]
    search_fields = ["station__ocpp_id"]
    raw_id_fields = ["station"]
    date_hierarchy = "started_at"


@admin.register(MonthlyReport)
class MonthlyReportAdmin(RollupAdmin):
    list_display = ["month", "sent_at"]
