"""What stations report of smart charging (OCPP 2.0.1 block K): the charging profiles they hold, and the charging
needs and schedules of the EVs plugged in. Kept as reported (the payload's own camelCase JSON beside the few
fields read by queries), for load management to build on; beside them, the needs drivers state themselves."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class ChargingProfileReport(models.Model):
    """One GetChargingProfiles request and the ReportChargingProfiles parts that answer it (by ``request_id``).

    The CSMS numbers the request with this row's key, stored before the request is sent, so that parts
    arriving before the station's answer is read find it. A part for a requestId nobody asked for is kept
    on a report of its own, ``requested`` False.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        RECEIVING = "receiving", "Parts arriving"
        COMPLETE = "complete", "Complete"
        NO_PROFILES = "no_profiles", "No profiles"
        FAILED = "failed", "No report"

    station = models.ForeignKey("stations.Station", on_delete=models.CASCADE, related_name="charging_profile_reports")
    request_id = models.IntegerField()
    evse_id = models.PositiveIntegerField(null=True, blank=True, help_text="The EVSE asked about; empty: all.")
    criteria = models.JSONField(default=dict, blank=True, help_text="The request's chargingProfile criterion.")
    requested = models.BooleanField(default=True, help_text="False: parts the CSMS had not asked for.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    detail = models.CharField(max_length=255, blank=True)
    command = models.ForeignKey(
        "stations.StationCommand", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    parts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["station", "request_id"], name="unique_charging_profile_report_request")
        ]

    def __str__(self):
        return f"Charging profiles of {self.station_id}, request {self.request_id} ({self.status})"


class ReportedChargingProfile(models.Model):
    """One charging profile a station reported, on an EVSE (0: the station as a whole)."""

    report = models.ForeignKey(ChargingProfileReport, on_delete=models.CASCADE, related_name="profiles")
    evse_id = models.PositiveIntegerField()
    charging_limit_source = models.CharField(max_length=8)
    profile_id = models.IntegerField()
    stack_level = models.PositiveIntegerField()
    purpose = models.CharField(max_length=40)
    kind = models.CharField(max_length=16)
    profile = models.JSONField(help_text="The ChargingProfileType as reported (camelCase).")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["evse_id", "purpose", "-stack_level", "profile_id"]
        indexes = [models.Index(fields=["report", "evse_id"])]

    def __str__(self):
        return f"{self.purpose} #{self.profile_id} on EVSE {self.evse_id}"


class EVChargingNeeds(models.Model):
    """An EV's charging needs as its station reported them (NotifyEVChargingNeeds, ISO 15118)."""

    station = models.ForeignKey("stations.Station", on_delete=models.CASCADE, related_name="ev_charging_needs")
    evse_id = models.PositiveIntegerField()
    requested_energy_transfer = models.CharField(max_length=20)
    departure_time = models.DateTimeField(null=True, blank=True)
    max_schedule_tuples = models.PositiveIntegerField(null=True, blank=True)
    charging_needs = models.JSONField(help_text="The ChargingNeedsType as reported (camelCase).")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["station", "evse_id", "-received_at"])]
        verbose_name = verbose_name_plural = "EV charging needs"

    def __str__(self):
        return f"EV needs on {self.station_id}/{self.evse_id} ({self.requested_energy_transfer})"


# No car's battery takes more from one session.
MAX_DRIVER_ENERGY_KWH = 200


class DriverChargingNeeds(models.Model):
    """What the driver said of a session on their phone: when they leave and, optionally, how much energy they want
    from this session in all (load management plans by it where the car says less: ``smartcharging.needs``)."""

    transaction = models.OneToOneField(
        "charging_sessions.Transaction", on_delete=models.CASCADE, related_name="driver_needs"
    )
    departure_at = models.DateTimeField()
    energy_kwh = models.DecimalField(
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[
            MinValueValidator(Decimal("0.1"), "The energy must be more than 0 kWh."),
            MaxValueValidator(MAX_DRIVER_ENERGY_KWH, f"At most {MAX_DRIVER_ENERGY_KWH} kWh per session."),
        ],
        help_text="The energy wanted from this session in all, kWh.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "driver charging needs"
        constraints = [
            models.CheckConstraint(condition=models.Q(energy_kwh__gt=0), name="driver_needs_energy_positive"),
        ]

    def __str__(self):
        return f"Driver needs of session {self.transaction_id}: by {self.departure_at:%Y-%m-%d %H:%M}"


class EVChargingSchedule(models.Model):
    """The schedule an EV chose (NotifyEVChargingSchedule), from ``time_base`` on."""

    station = models.ForeignKey("stations.Station", on_delete=models.CASCADE, related_name="ev_charging_schedules")
    evse_id = models.PositiveIntegerField()
    time_base = models.DateTimeField()
    charging_schedule = models.JSONField(help_text="The ChargingScheduleType as reported (camelCase).")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "EV charging schedule"
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["station", "evse_id", "-received_at"])]

    def __str__(self):
        return f"EV schedule on {self.station_id}/{self.evse_id} from {self.time_base:%Y-%m-%d %H:%M}"


# Load management: the limits of a site's grid connection and of the feeders inside it, what each connector can
# take, and the current the CSMS gave each session.


class LoadGroup(models.Model):
    """A node of a site's electrical tree: its grid connection (no ``parent``, one per site) or a feeder inside it.

    Its limit is in amps per phase or in kW (converted with ``phases`` and ``voltage``, the phase-to-neutral
    voltage); stations are below the site's grid connection unless placed in a feeder (``LoadGroupStation``).
    The building's own consumption, when measured, is taken off the limit: from a Modbus TCP meter
    (``smartcharging.site_meter``) or a station's grid meter (its connector 0's power).
    """

    class Unit(models.TextChoices):
        AMPS = "A", "A per phase"
        KILOWATTS = "kW", "kW"

    class MeterSource(models.TextChoices):
        NONE = "", "None"
        MODBUS = "modbus", "Site meter (Modbus TCP)"
        STATION = "station", "A station's grid meter"

    site = models.ForeignKey("stations.Site", on_delete=models.CASCADE, related_name="load_groups")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    name = models.CharField(max_length=120)
    limit = models.DecimalField(
        max_digits=9, decimal_places=1, validators=[MinValueValidator(0)], help_text="The default limit, in its unit."
    )
    limit_unit = models.CharField(max_length=2, choices=Unit.choices, default=Unit.AMPS)
    phases = models.PositiveSmallIntegerField(default=3, choices=[(1, "1"), (3, "3")])
    voltage = models.PositiveSmallIntegerField(default=230, help_text="Phase-to-neutral, V.")
    meter_source = models.CharField(max_length=8, choices=MeterSource.choices, blank=True, default=MeterSource.NONE)
    meter_host = models.CharField(max_length=255, blank=True)
    meter_port = models.PositiveIntegerField(default=502)
    meter_unit = models.PositiveSmallIntegerField(default=1, help_text="Modbus unit (slave) id.")
    meter_register = models.PositiveIntegerField(default=0, help_text="Holding register of the active power.")
    meter_station = models.ForeignKey(
        "stations.Station", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    building_load_w = models.IntegerField(null=True, blank=True, help_text="The building's last measured load.")
    building_load_at = models.DateTimeField(null=True, blank=True)
    building_reserve_a = models.DecimalField(
        max_digits=6,
        decimal_places=1,
        default=0,
        validators=[MinValueValidator(0)],
        help_text="A per phase the building may take: counted as its load when no meter reads it, and as the least "
        "of its worst case that the stations' fail-safe default keeps free.",
    )
    # The building's peak (measured) in the present window and in the one before: the fail-safe's worst case.
    building_peak_w = models.IntegerField(null=True, blank=True)
    building_peak_before_w = models.IntegerField(null=True, blank=True)
    building_peak_since = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["site", "parent_id", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["site"], condition=models.Q(parent__isnull=True), name="one_grid_connection_per_site"
            ),
            models.CheckConstraint(condition=models.Q(limit__gte=0), name="load_group_limit_not_negative"),
        ]

    def __str__(self):
        return f"{self.name} ({self.limit} {self.limit_unit})"

    def clean(self):
        errors = {}
        if self.parent_id is not None:
            ancestor = self.parent
            while ancestor is not None and ancestor.pk != self.pk:
                ancestor = ancestor.parent
            if ancestor is not None:
                errors["parent"] = "A group cannot be inside itself."
            elif self.parent.site_id != self.site_id:
                errors["parent"] = "The parent group is at another site."
        elif self.site_id and LoadGroup.objects.filter(site_id=self.site_id, parent=None).exclude(pk=self.pk).exists():
            errors["parent"] = "The site has its grid connection already: a feeder needs a parent group."
        if "parent" not in errors and self.parent_id is not None and self._rating_changed():
            own, parents = self.limit_a(), self.parent.limit_a()
            if round(own, 1) > round(parents, 1):
                errors["limit"] = (
                    f"{own:.1f} A per phase is above the limit of {self.parent.name} ({parents:.1f} A per phase), "
                    "which this feeder is inside: it could never be reached."
                )
        if self.meter_source == self.MeterSource.MODBUS and not self.meter_host:
            errors["meter_host"] = "A Modbus TCP site meter needs its host."
        if self.meter_source == self.MeterSource.STATION and self.meter_station_id is None:
            errors["meter_station"] = "Choose the station whose grid meter measures the building."
        if self.meter_port and not 0 < self.meter_port < 65536:
            errors["meter_port"] = "A TCP port is 1 to 65535."
        if self.voltage is not None and not 100 <= self.voltage <= 400:
            errors["voltage"] = "The phase-to-neutral voltage is 100 to 400 V."
        if errors:
            raise ValidationError(errors)

    def limit_a(self, limit=None) -> float:
        """``limit`` (the group's default limit when None), in its unit, in amps per phase."""
        limit = self.limit if limit is None else limit
        if self.limit_unit == self.Unit.AMPS:
            return float(limit)
        return float(limit) * 1000 / (self.voltage * self.phases)

    RATING_FIELDS = ("parent_id", "limit", "limit_unit", "phases", "voltage")

    def _rating_changed(self) -> bool:
        """Whether the group is new or its parent or default limit (as amps per phase) is not the stored one: a
        feeder is held to its parent's limit when it is set, not when its parent is lowered below it later (a
        lower grid limit for a while must not be refused) and the feeder is then edited for something else."""
        stored = LoadGroup.objects.filter(pk=self.pk).values_list(*self.RATING_FIELDS).first() if self.pk else None
        return stored != tuple(getattr(self, name) for name in self.RATING_FIELDS)


class LimitPeriod(models.Model):
    """A time of day when a group's limit is another (a cheaper night window): from ``starts`` to ``ends`` in the
    site's time zone, across midnight when ``ends`` is not after ``starts``."""

    group = models.ForeignKey(LoadGroup, on_delete=models.CASCADE, related_name="periods")
    starts = models.TimeField()
    ends = models.TimeField()
    limit = models.DecimalField(
        max_digits=9, decimal_places=1, validators=[MinValueValidator(0)], help_text="In the group's unit."
    )

    class Meta:
        ordering = ["group", "starts"]
        constraints = [models.CheckConstraint(condition=models.Q(limit__gte=0), name="limit_period_not_negative")]

    def __str__(self):
        return f"{self.starts:%H:%M}-{self.ends:%H:%M}: {self.limit}"


class LoadGroupStation(models.Model):
    """A station placed in a feeder of its site (a station of a managed site without one is below the grid
    connection)."""

    station = models.OneToOneField("stations.Station", on_delete=models.CASCADE, related_name="load_placement")
    group = models.ForeignKey(LoadGroup, on_delete=models.CASCADE, related_name="placements")

    def __str__(self):
        return f"{self.station_id} in {self.group_id}"


class ConnectorLoadSettings(models.Model):
    """What a connector can take, as the operator set it (else from the station's device model or the defaults):
    a car below ``min_current_a`` would not charge, so it waits instead; ``priority``: higher is served first."""

    station = models.ForeignKey("stations.Station", on_delete=models.CASCADE, related_name="connector_load_settings")
    connector_id = models.PositiveIntegerField()
    min_current_a = models.DecimalField(max_digits=5, decimal_places=1, default=6)
    max_current_a = models.DecimalField(max_digits=5, decimal_places=1, default=32)
    phases = models.PositiveSmallIntegerField(default=3, choices=[(1, "1"), (3, "3")])
    priority = models.SmallIntegerField(default=0)

    class Meta:
        verbose_name_plural = "connector load settings"
        ordering = ["station", "connector_id"]
        constraints = [
            models.UniqueConstraint(fields=["station", "connector_id"], name="unique_connector_load_settings"),
            models.CheckConstraint(
                condition=models.Q(min_current_a__gte=0, max_current_a__gte=models.F("min_current_a")),
                name="connector_current_range",
            ),
        ]

    def __str__(self):
        return f"{self.station_id}/{self.connector_id}: {self.min_current_a}-{self.max_current_a} A"


def schedule_fingerprint(schedule, start: float) -> str:
    """A schedule as sent from ``start`` (seconds since the epoch), its later periods' starts in absolute seconds:
    the same plan made a second later compares equal (a period's offset is rounded from the moment of its plan, so
    its start is found again by rounding)."""
    periods = enumerate(schedule)
    return " ".join([f"{round(start + offset) if index else 0}:{amps!r}" for index, (offset, amps) in periods])


class ConnectorAllocation(models.Model):
    """The current the CSMS gave a connector's session, and what it sent the station to hold it there."""

    class State(models.TextChoices):
        CHARGING = "charging", "Charging"
        QUEUED = "queued", "Waiting (suspended)"
        REJECTED = "rejected", "Profile rejected: counted at its maximum"
        LOST = "lost", "Station offline: counted at its last profile"

    class Delivery(models.TextChoices):
        PENDING = "pending", "To send"
        SENT = "sent", "Accepted"
        REJECTED = "rejected", "Rejected"
        FAILED = "failed", "Not delivered"

    site = models.ForeignKey("stations.Site", on_delete=models.CASCADE, related_name="connector_allocations")
    station = models.ForeignKey("stations.Station", on_delete=models.CASCADE, related_name="connector_allocations")
    connector_id = models.PositiveIntegerField()
    transaction = models.ForeignKey(
        "charging_sessions.Transaction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=10, choices=State.choices)
    current_a = models.FloatField(help_text="Allocated now, A per phase.")
    schedule = models.JSONField(default=list, help_text="[[seconds from schedule_start, A], ...] as sent.")
    schedule_start = models.DateTimeField(null=True, blank=True)
    schedule_key = models.TextField(
        blank=True,
        editable=False,
        help_text="The schedule's fingerprint (schedule_fingerprint), written with it: what a new plan compares with.",
    )
    queued_since = models.DateTimeField(null=True, blank=True)
    delivery = models.CharField(max_length=10, choices=Delivery.choices, default=Delivery.PENDING)
    delivery_detail = models.CharField(max_length=255, blank=True)
    drawn_a = models.FloatField(null=True, blank=True, help_text="What the car drew at the last allocation.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["site", "station", "connector_id"]
        constraints = [models.UniqueConstraint(fields=["station", "connector_id"], name="unique_connector_allocation")]

    def __str__(self):
        return f"{self.station_id}/{self.connector_id}: {self.current_a} A ({self.state})"

    def save(self, *args, **kwargs):
        start = self.schedule_start
        self.schedule_key = schedule_fingerprint(self.schedule, start.timestamp()) if start and self.schedule else ""
        super().save(*args, **kwargs)


class StationLoadState(models.Model):
    """What load management knows of a station: the connection its fail-safe default profile was sent on,
    whether it refuses profiles (then it is counted at its maximum until it reconnects), and when it last refused a
    session's TxProfile (since its last boot, its sessions' shares go as their connectors' TxDefaultProfile)."""

    station = models.OneToOneField("stations.Station", on_delete=models.CASCADE, related_name="load_state")
    failsafe_connected_at = models.DateTimeField(null=True, blank=True)
    failsafe_current_a = models.FloatField(null=True, blank=True)
    rejected_at = models.DateTimeField(null=True, blank=True)
    rejected_detail = models.CharField(max_length=255, blank=True)
    tx_profile_refused_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Load state of {self.station_id}"


class SiteLoadSample(models.Model):
    """A site's load against its limit at one moment, for the operator's graph (written at each allocation and
    each watch of the site)."""

    site = models.ForeignKey("stations.Site", on_delete=models.CASCADE, related_name="load_samples")
    at = models.DateTimeField()
    limit_a = models.FloatField()
    allocated_a = models.FloatField()
    drawn_a = models.FloatField(null=True, blank=True)
    building_a = models.FloatField(null=True, blank=True)
    sessions = models.PositiveIntegerField(default=0)
    queued = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["site", "-at"]
        indexes = [models.Index(fields=["site", "-at"])]

    def __str__(self):
        return f"Site {self.site_id} at {self.at:%Y-%m-%d %H:%M:%S}: {self.allocated_a} of {self.limit_a} A"
