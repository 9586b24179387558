"""Rollups the dashboards read instead of scanning every session, sample and status event, and offline history.

The rollups are derived data: ``analytics.rollups`` rebuilds any day range from the source tables, and
the Celery task ``analytics.tasks.refresh_rollups`` keeps the recent days current. Days are calendar days
in the operator's ``TIME_ZONE``; hours are UTC hours.
"""

from django.db import models


class ConnectorDay(models.Model):
    """What one connector did on one day: sessions, energy, and how long it spent in each state."""

    day = models.DateField()
    station = models.ForeignKey("stations.Station", on_delete=models.CASCADE, related_name="+")
    connector_id = models.PositiveIntegerField()
    period_s = models.IntegerField(help_text="Seconds of the day covered (less today and on a station's first day).")

    sessions = models.IntegerField(default=0, help_text="Sessions started this day.")
    completed_sessions = models.IntegerField(default=0, help_text="Of those, the ones that have ended.")
    session_energy_wh = models.BigIntegerField(default=0, help_text="Energy of the completed sessions started today.")
    session_s = models.BigIntegerField(default=0, help_text="Duration of the completed sessions started this day.")
    energy_wh = models.BigIntegerField(default=0, help_text="Energy delivered within this day, from the meter curve.")

    occupied_s = models.IntegerField(default=0, help_text="A vehicle plugged in (Preparing ... Finishing, Occupied).")
    charging_s = models.IntegerField(default=0)
    idle_s = models.IntegerField(default=0, help_text="Plugged in, not charging (Preparing, Suspended*, Finishing).")
    faulted_s = models.IntegerField(default=0)
    unavailable_s = models.IntegerField(default=0)
    offline_s = models.IntegerField(default=0, help_text="The station was offline.")
    station_offline_s = models.IntegerField(
        default=0, help_text="The station's offline time on its first connector's row only: sums count it once."
    )
    outage_s = models.IntegerField(default=0, help_text="Faulted or offline (unplanned).")
    down_s = models.IntegerField(default=0, help_text="Faulted, unavailable or offline: not usable by a driver.")
    failures = models.IntegerField(default=0, help_text="Faults and offline periods that began this day.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "station", "connector_id"], name="analytics_connector_day_unique")
        ]
        indexes = [models.Index(fields=["station", "day"], name="analytics_cday_station_day")]

    def __str__(self):
        return f"{self.station_id}/{self.connector_id} on {self.day}"


class ConnectorDayFigures(models.Model):
    """The additive figures of ConnectorDay, summed: over the network (NetworkDay), over time (ConnectorTotal)."""

    period_s = models.BigIntegerField()
    sessions = models.BigIntegerField()
    completed_sessions = models.BigIntegerField()
    session_energy_wh = models.BigIntegerField()
    session_s = models.BigIntegerField()
    energy_wh = models.BigIntegerField()
    occupied_s = models.BigIntegerField()
    charging_s = models.BigIntegerField()
    idle_s = models.BigIntegerField()
    faulted_s = models.BigIntegerField()
    unavailable_s = models.BigIntegerField()
    offline_s = models.BigIntegerField()
    station_offline_s = models.BigIntegerField()
    outage_s = models.BigIntegerField()
    down_s = models.BigIntegerField()
    failures = models.BigIntegerField()

    class Meta:
        abstract = True


class NetworkDay(ConnectorDayFigures):
    """One day of the whole network: its connector-days summed, so a network-wide day costs one row, not one per
    connector (20,000 a day at 10,000 stations)."""

    day = models.DateField(unique=True)

    def __str__(self):
        return f"network on {self.day}"


class ConnectorTotal(ConnectorDayFigures):
    """A connector's running totals: its connector-days summed from its first day up to ``day`` included.

    Any range's figures per connector are two rows apart (the end day's totals less those of the day before the
    start), so a year of a 20,000-connector network reads 40,000 rows instead of 7,300,000. Every connector has
    a row for every day from its first one to the last day rolled up (days without a connector-day carry the
    totals forward), so both ends of any range are found by their day alone.
    """

    day = models.DateField()
    station = models.ForeignKey("stations.Station", on_delete=models.CASCADE, related_name="+")
    connector_id = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "station", "connector_id"], name="analytics_connector_total_unique")
        ]

    def __str__(self):
        return f"{self.station_id}/{self.connector_id} up to {self.day}"


class FaultDay(models.Model):
    """Faults that began on one day on one connector (0: the whole station), by error code."""

    day = models.DateField()
    station = models.ForeignKey("stations.Station", on_delete=models.CASCADE, related_name="+")
    connector_id = models.PositiveIntegerField()
    error_code = models.CharField(max_length=50)
    faults = models.IntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "station", "connector_id", "error_code"], name="analytics_fault_day_unique"
            )
        ]

    def __str__(self):
        return f"{self.faults}x {self.error_code} on {self.station_id}/{self.connector_id} {self.day}"


class BitString(models.Field):
    """A PostgreSQL ``varbit``: written and read by the rollup SQL only."""

    description = "Bit string"

    def db_type(self, connection):
        return "varbit"


class DriverDay(models.Model):
    """Who charged on one day, network-wide, as bitmaps: bit n of ``users`` is user n, of ``tokens`` ID token n.

    A driver is the session's user, else its ID token. OR-ing the bitmaps of any days and counting the
    set bits gives the unique drivers of that range without reading a single session.
    """

    day = models.DateField(unique=True)
    drivers = models.IntegerField(help_text="Unique drivers this day.")
    users = BitString()
    tokens = BitString()

    def __str__(self):
        return f"{self.drivers} drivers on {self.day}"


class RevenueDay(models.Model):
    """Priced sessions started on one day at one station, per tariff and currency (from billing's SessionCharge)."""

    day = models.DateField()
    station = models.ForeignKey("stations.Station", on_delete=models.CASCADE, related_name="+")
    # The billing tariff's id, kept without a foreign key so that analytics does not depend on billing's schema.
    tariff_id = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3)
    sessions = models.IntegerField(help_text="Priced sessions, billable or not.")
    billable_sessions = models.IntegerField()
    energy_wh = models.BigIntegerField()
    session_s = models.BigIntegerField()
    net_amount = models.DecimalField(max_digits=16, decimal_places=4, help_text="Billable sessions only.")
    gross_amount = models.DecimalField(max_digits=16, decimal_places=4)

    class Meta:
        indexes = [models.Index(fields=["day", "station"], name="analytics_revenue_day")]

    def __str__(self):
        return f"{self.station_id} {self.day} {self.gross_amount} {self.currency}"


class NetworkRevenueDay(models.Model):
    """RevenueDay summed over the stations: the whole network's money dashboard reads a few rows a day (one per
    tariff and currency) instead of one per station."""

    day = models.DateField()
    tariff_id = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3)
    sessions = models.IntegerField()
    billable_sessions = models.IntegerField()
    energy_wh = models.BigIntegerField()
    session_s = models.BigIntegerField()
    net_amount = models.DecimalField(max_digits=18, decimal_places=4)
    gross_amount = models.DecimalField(max_digits=18, decimal_places=4)

    class Meta:
        indexes = [models.Index(fields=["day"], name="analytics_network_revenue_day")]

    def __str__(self):
        return f"network {self.day} {self.gross_amount} {self.currency}"


class HourStats(models.Model):
    """Energy and load of one UTC hour; the peak is the highest 15-minute demand, the way a grid meters it."""

    hour = models.DateTimeField()
    sessions = models.IntegerField(default=0, help_text="Sessions started in this hour.")
    energy_wh = models.BigIntegerField(default=0)
    peak_demand_w = models.BigIntegerField(default=0, help_text="Highest 15-minute average power within the hour.")

    class Meta:
        abstract = True


class NetworkHour(HourStats):
    """An hour of the whole network."""

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hour"], name="analytics_network_hour_unique")]

    def __str__(self):
        return f"network {self.hour:%Y-%m-%d %H:00}"


class SiteHour(HourStats):
    """An hour of one site."""

    site = models.ForeignKey("stations.Site", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "hour"], name="analytics_site_hour_unique")]

    def __str__(self):
        return f"{self.site_id} {self.hour:%Y-%m-%d %H:00}"


class StationOfflinePeriod(models.Model):
    """A time a station was unreachable: its socket closed, or it fell silent past CMS_ANALYTICS_OFFLINE_AFTER."""

    station = models.ForeignKey("stations.Station", on_delete=models.CASCADE, related_name="offline_periods")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["station"], condition=models.Q(ended_at__isnull=True), name="analytics_one_open_offline_period"
            )
        ]
        indexes = [models.Index(fields=["station", "started_at"], name="analytics_offline_station")]

    def __str__(self):
        return f"{self.station_id} offline from {self.started_at:%Y-%m-%d %H:%M}"


class RollupState(models.Model):
    """Where the incremental rollup refresh stopped reading, so the next run reads only what is new."""

    name = models.CharField(max_length=40, unique=True)
    watermark = models.DateTimeField(null=True, blank=True, help_text="Source rows changed before this are done.")
    last_event_id = models.BigIntegerField(default=0, help_text="Status events up to this id are done.")
    last_charge_id = models.BigIntegerField(default=0, help_text="Priced sessions up to this id are done.")
    refreshed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.name


class MonthlyReport(models.Model):
    """A month's report as sent: one row per month is what makes the hourly beat job send it only once."""

    month = models.DateField(unique=True, help_text="The first day of the month reported on.")
    recipients = models.JSONField(default=list)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-month"]

    def __str__(self):
        return f"Report for {self.month:%B %Y}"
