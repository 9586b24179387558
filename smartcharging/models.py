"""What stations report of smart charging (OCPP 2.0.1 block K): the charging profiles they hold, and the charging
needs and schedules of the EVs plugged in. Kept as reported (the payload's own camelCase JSON beside the few
fields read by queries), for load management to build on."""

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
        verbose_name_plural = "EV charging needs"

    def __str__(self):
        return f"EV needs on {self.station_id}/{self.evse_id} ({self.requested_energy_transfer})"


class EVChargingSchedule(models.Model):
    """The schedule an EV chose (NotifyEVChargingSchedule), from ``time_base`` on."""

    station = models.ForeignKey("stations.Station", on_delete=models.CASCADE, related_name="ev_charging_schedules")
    evse_id = models.PositiveIntegerField()
    time_base = models.DateTimeField()
    charging_schedule = models.JSONField(help_text="The ChargingScheduleType as reported (camelCase).")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["station", "evse_id", "-received_at"])]

    def __str__(self):
        return f"EV schedule on {self.station_id}/{self.evse_id} from {self.time_base:%Y-%m-%d %H:%M}"
