"""Alerts and their notifications, maintenance jobs with their outcome per station (diagnostics files
included), and firmware images.

These models were the stations app's until monitoring got its own app: their tables keep the names they
had there (``db_table``), so an existing database keeps its rows (see ``migrations/0001_initial.py``).
"""

from django.conf import settings
from django.db import models

from stations.models import Site, Station, StationCommand


class Alert(models.Model):
    """Something wrong with a station that an operator should know about, open until the condition clears.

    At most one alert is open per condition (station, kind, subject): a database constraint, so two
    evaluations running at once cannot open it twice. Its timeline is in ``events``.
    """

    class Kind(models.TextChoices):
        OFFLINE = "offline", "Station offline"
        CONNECTOR_FAULT = "connector_fault", "Connector fault"
        STUCK_SESSION = "stuck_session", "Stuck session"
        FIRMWARE_FAILED = "firmware_failed", "Firmware update failed"
        SECURITY_EVENT = "security_event", "Security event"
        DEVICE_EVENT = "device_event", "Station event"
        PROFILE_REJECTED = "profile_rejected", "Charging profile rejected"
        CERTIFICATE_EXPIRING = "certificate_expiring", "Station certificate expiring"
        CA_CERTIFICATE_EXPIRING = "ca_certificate_expiring", "CA certificate expiring"

    class Severity(models.TextChoices):
        CRITICAL = "critical"
        WARNING = "warning"
        INFO = "info"

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    subject = models.CharField(
        max_length=64, blank=True, help_text="What within the station: 'connector:2', 'transaction:17', an event type."
    )
    connector_id = models.PositiveIntegerField(null=True, blank=True)
    transaction = models.ForeignKey(
        "charging_sessions.Transaction", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    summary = models.CharField(max_length=255)
    details = models.JSONField(default=dict, blank=True)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=120, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "stations_alert"
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "kind", "subject"],
                condition=models.Q(closed_at__isnull=True),
                name="one_open_alert_per_condition",
            )
        ]
        indexes = [models.Index(fields=["closed_at", "-opened_at"]), models.Index(fields=["station", "-opened_at"])]

    def __str__(self):
        return f"{self.get_kind_display()} on {self.station_id}{' (closed)' if self.closed_at else ''}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class AlertEvent(models.Model):
    """One entry of an alert's timeline."""

    class Kind(models.TextChoices):
        OPENED = "opened"
        CHANGED = "changed"
        REPEATED = "repeated"
        NOTIFIED = "notified"
        NOTIFICATION_FAILED = "notification_failed", "Notification failed"
        ACKNOWLEDGED = "acknowledged"
        CLOSED = "closed"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    message = models.CharField(max_length=255, blank=True)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()

    class Meta:
        db_table = "stations_alertevent"
        ordering = ["at", "pk"]

    def __str__(self):
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M:%S}"


class AlertChannel(models.Model):
    """Where alerts go: an on-call e-mail list, or a webhook of the operator's incident tool (JSON POST)."""

    class Kind(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Webhook"

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    emails = models.TextField(blank=True, help_text="The on-call list: addresses separated by commas or new lines.")
    url = models.URLField("webhook URL", max_length=500, blank=True)
    secret = models.CharField(
        max_length=128, blank=True, help_text="Signs each webhook body: header X-Voltgrid-Signature: sha256=<HMAC>."
    )
    alert_kinds = models.JSONField(
        default=list, blank=True, help_text='Only these kinds (e.g. ["offline", "connector_fault"]); empty for all.'
    )
    min_severity = models.CharField(
        max_length=16,
        choices=Alert.Severity.choices,
        default=Alert.Severity.WARNING,
        help_text="Alerts at least this severe are sent.",
    )
    sites = models.ManyToManyField(Site, blank=True, help_text="Only alerts of stations at these sites; none for all.")
    notify_on_close = models.BooleanField(default=True, help_text="Also send a message when an alert closes.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "stations_alertchannel"
        ordering = ["name"]

    def __str__(self):
        return self.name

    def recipients(self) -> list[str]:
        return [address.strip() for address in self.emails.replace("\n", ",").split(",") if address.strip()]

    def clean(self):
        from django.core.exceptions import ValidationError
        from django.core.validators import validate_email

        if self.kind == self.Kind.EMAIL:
            if not self.recipients():
                raise ValidationError({"emails": "An e-mail channel needs at least one address."})
            for address in self.recipients():
                try:
                    validate_email(address)
                except ValidationError as error:
                    raise ValidationError({"emails": f"{address!r} is not an e-mail address."}) from error
        if self.kind == self.Kind.WEBHOOK and not self.url:
            raise ValidationError({"url": "A webhook channel needs its URL."})
        unknown = set(self.alert_kinds or []) - set(Alert.Kind.values)
        if not isinstance(self.alert_kinds, list) or unknown:
            raise ValidationError({"alert_kinds": f"A list of alert kinds out of {', '.join(Alert.Kind.values)}."})


class AlertDelivery(models.Model):
    """One notification of an alert's opening or closing through one channel; retried until sent or given up."""

    class Trigger(models.TextChoices):
        OPENED = "opened"
        CLOSED = "closed"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed", "Given up"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="deliveries")
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "stations_alertdelivery"
        verbose_name_plural = "alert deliveries"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "channel", "trigger"], name="one_delivery_per_alert_channel_trigger"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self):
        return f"{self.alert_id} {self.trigger} → {self.channel} ({self.status})"


class FirmwareImage(models.Model):
    """A firmware file the operator uploaded, served to stations at a tokenised URL during an update."""

    name = models.CharField(max_length=120)
    version = models.CharField(
        max_length=50, help_text="The version the station reports in BootNotification once it runs this firmware."
    )
    file = models.FileField(upload_to="firmware/%Y/%m/")
    size = models.BigIntegerField(help_text="Bytes")
    sha256 = models.CharField("SHA-256", max_length=64)
    vendor = models.CharField(max_length=50, blank=True, help_text="The station vendor it is meant for.")
    model = models.CharField(max_length=50, blank=True, help_text="The station model it is meant for.")
    notes = models.TextField(blank=True)
    # Signed firmware (1.6 SignedUpdateFirmware, 2.0.1 UpdateFirmware): the station checks the signature of the
    # file's SHA-256 with the signing certificate before installing; both checked against the file on upload.
    signing_certificate = models.TextField(blank=True, help_text="PEM; the certificate whose key signed the file.")
    signature = models.TextField(blank=True, help_text="Base64; the signature of the file's SHA-256.")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "stations_firmwareimage"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} {self.version}"

    @property
    def file_name(self) -> str:
        return self.file.name.rsplit("/", 1)[-1]

    @property
    def is_signed(self) -> bool:
        return bool(self.signature and self.signing_certificate)


class MaintenanceJob(models.Model):
    """A maintenance command to one or many stations, run by a Celery worker, with an outcome per station."""

    class Kind(models.TextChoices):
        RESET = "reset", "Reset"
        UNLOCK = "unlock", "Unlock connector"
        CHANGE_AVAILABILITY = "change_availability", "Change availability"
        GET_CONFIGURATION = "get_configuration", "Get configuration"
        CHANGE_CONFIGURATION = "change_configuration", "Change configuration"
        TRIGGER_MESSAGE = "trigger_message", "Trigger message"
        CLEAR_CACHE = "clear_cache", "Clear cache"
        DIAGNOSTICS = "diagnostics", "Diagnostics upload"
        FIRMWARE = "firmware", "Firmware update"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        PARTIAL = "partial", "Partly succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    kind = models.CharField(max_length=24, choices=Kind.choices)
    params = models.JSONField(default=dict, blank=True)
    firmware = models.ForeignKey(FirmwareImage, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    stations = models.ManyToManyField(Station, through="MaintenanceTarget", related_name="maintenance_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True, help_text="When it was last queued for a worker.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "stations_maintenancejob"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "-created_at"])]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.PARTIAL, self.Status.FAILED, self.Status.CANCELLED)


class MaintenanceTarget(models.Model):
    """One station of a maintenance job: its command, where it stands, and what came of it."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running", "Sending"
        WAITING = "waiting", "In progress on the station"
        SUCCEEDED = "succeeded"
        REJECTED = "rejected", "Rejected by the station"
        FAILED = "failed"
        OFFLINE = "offline"
        TIMEOUT = "timeout", "No answer"
        CANCELLED = "cancelled"

    job = models.ForeignKey(MaintenanceJob, on_delete=models.CASCADE, related_name="targets")
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="maintenance_targets")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    command = models.ForeignKey(StationCommand, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    detail = models.TextField(blank=True)
    result = models.JSONField(null=True, blank=True)
    progress = models.CharField(max_length=32, blank=True, help_text="The station's last reported stage.")
    progress_at = models.DateTimeField(null=True, blank=True)
    # The credential of the station's download (firmware) or upload (diagnostics) URL.
    token = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    downloads = models.PositiveIntegerField(default=0)
    downloaded_at = models.DateTimeField(null=True, blank=True)
    file = models.FileField(upload_to="diagnostics/%Y/%m/", blank=True)
    file_name = models.CharField(max_length=255, blank=True)
    file_size = models.BigIntegerField(null=True, blank=True)
    file_received_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "stations_maintenancetarget"
        ordering = ["job", "station__ocpp_id"]
        constraints = [models.UniqueConstraint(fields=["job", "station"], name="one_target_per_job_station")]
        indexes = [models.Index(fields=["status"])]

    def __str__(self):
        return f"{self.job_id}/{self.station_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status not in (self.Status.PENDING, self.Status.RUNNING, self.Status.WAITING)


# OCPP 2.0.1 functional blocks N (monitoring, customer information) and O (display messages)


class VariableMonitor(models.Model):
    """A monitor on one variable of a 2.0.1 station's device model, as the station accepted or reported it.

    Kept from SetVariableMonitoring's results and NotifyMonitoringReport; its severity (0 Danger .. 9 Debug)
    decides whether the station's events from it raise an alert.
    """

    class Type(models.TextChoices):
        UPPER_THRESHOLD = "UpperThreshold", "Upper threshold"
        LOWER_THRESHOLD = "LowerThreshold", "Lower threshold"
        DELTA = "Delta"
        PERIODIC = "Periodic"
        PERIODIC_CLOCK_ALIGNED = "PeriodicClockAligned", "Periodic, clock aligned"

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="variable_monitors")
    monitor_id = models.IntegerField(help_text="The station's id of the monitor.")
    component_name = models.CharField(max_length=50)
    component_instance = models.CharField(max_length=50, blank=True)
    evse_id = models.PositiveIntegerField(null=True, blank=True)
    connector_id = models.PositiveIntegerField(null=True, blank=True)
    variable_name = models.CharField(max_length=50)
    variable_instance = models.CharField(max_length=50, blank=True)
    type = models.CharField(max_length=24, choices=Type.choices)
    value = models.DecimalField(max_digits=20, decimal_places=6)
    severity = models.PositiveSmallIntegerField()
    transaction = models.BooleanField(default=False, help_text="Active only while a transaction runs.")
    report_request_id = models.IntegerField(null=True, blank=True, help_text="The last report that listed it.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["station", "component_name", "evse_id", "variable_name", "monitor_id"]
        constraints = [models.UniqueConstraint(fields=["station", "monitor_id"], name="one_monitor_per_station_id")]

    def __str__(self):
        return f"{self.station_id} monitor {self.monitor_id} on {self.component_name}.{self.variable_name}"

    @property
    def value_text(self) -> str:
        """The value without trailing zeros or an exponent: "22000", "65.5"."""
        return format(self.value.normalize(), "f")


class DisplayMessage(models.Model):
    """A message shown on a 2.0.1 station's display, as the station accepted or reported it."""

    class Priority(models.TextChoices):
        ALWAYS_FRONT = "AlwaysFront", "Always in front"
        IN_FRONT = "InFront", "In front"
        NORMAL_CYCLE = "NormalCycle", "Normal cycle"

    class State(models.TextChoices):
        CHARGING = "Charging"
        FAULTED = "Faulted"
        IDLE = "Idle"
        UNAVAILABLE = "Unavailable"

    class Format(models.TextChoices):
        ASCII = "ASCII", "ASCII"
        HTML = "HTML", "HTML"
        URI = "URI", "URI"
        UTF8 = "UTF8", "UTF-8"

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="display_messages")
    message_id = models.IntegerField(help_text="The id the message has on the station.")
    priority = models.CharField(max_length=16, choices=Priority.choices)
    state = models.CharField(max_length=16, choices=State.choices, blank=True, help_text="Shown only in this state.")
    content = models.CharField(max_length=512)
    format = models.CharField(max_length=8, choices=Format.choices, default=Format.UTF8)
    language = models.CharField(max_length=8, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    transaction_id = models.CharField(max_length=36, blank=True, help_text="Shown only during this transaction.")
    report_request_id = models.IntegerField(null=True, blank=True, help_text="The last report that listed it.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["station", "message_id"]
        constraints = [
            models.UniqueConstraint(fields=["station", "message_id"], name="one_display_message_per_station_id")
        ]

    def __str__(self):
        return f"{self.station_id} message {self.message_id}"


class CustomerInformationRequest(models.Model):
    """A CustomerInformation request to a 2.0.1 station (report and/or clear one customer's data) and the report
    the station sent back in NotifyCustomerInformation parts, joined in ``seq_no`` order."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="customer_information_requests")
    request_id = models.IntegerField()
    report = models.BooleanField(default=False)
    clear = models.BooleanField(default=False)
    customer = models.JSONField(default=dict, blank=True, help_text="idToken, customerIdentifier or certificate.")
    command = models.ForeignKey(StationCommand, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=24, blank=True, help_text="The station's answer.")
    parts = models.JSONField(default=dict, blank=True, help_text="The report's data by seqNo.")
    last_seq_no = models.IntegerField(null=True, blank=True, help_text="The seqNo of the part with tbc false.")
    generated_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["station", "request_id"], name="one_customer_information_per_request")
        ]

    def __str__(self):
        return f"{self.station_id} customer information {self.request_id}"

    @property
    def is_complete(self) -> bool:
        """Every part up to the last has arrived."""
        return self.last_seq_no is not None and all(str(seq) in self.parts for seq in range(self.last_seq_no + 1))

    @property
    def data(self) -> str:
        return "".join(self.parts[seq] for seq in sorted(self.parts, key=int))
