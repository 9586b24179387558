"""Charging stations, their connectors, status history, the OCPP frame log and commands sent to them, the
device model of OCPP 2.0.1 stations and their last known configuration. (Alerts, maintenance jobs and
firmware images are in ``monitoring.models``.)"""

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from stations.authorization_key import key_stored_form

# OCPP 2.0.1 limits the identity to 48 characters; ':' is reserved by Basic auth.
station_id_validator = RegexValidator(
    r"^[A-Za-z0-9*\-_=+|@.]{1,48}$",
    "Use 1 to 48 letters, digits or * - _ = + | @ . (no spaces, no ':').",
)


# OCPP security profile 3: TLS with a client certificate, offered where the deployment verifies them.
CLIENT_CERTIFICATE_PROFILE = 3


def security_profile_available(value: int) -> None:
    from stations.client_certificates import client_certificates_configured

    if value == CLIENT_CERTIFICATE_PROFILE and not client_certificates_configured():
        raise ValidationError(
            "Security profile 3 (TLS client certificates) needs the CA that issues the station certificates: set "
            "CMS_OCPP_CLIENT_CA_FILE (see docs/deploy.md, TLS and client certificates), or choose 1 or 2."
        )


class Site(models.Model):
    """A location with one or more stations (a car park, a depot, a street)."""

    name = models.CharField(max_length=120, unique=True)
    address = models.CharField(max_length=255, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Node(models.Model):
    """A daphne process serving OCPP, alive while it renews its lease (``stations.nodes``).

    A process killed outright says no goodbye: its stations are recorded offline by whoever sees its
    lease expire (another node, the Celery beat sweep, or its own successor at start-up).
    """

    name = models.CharField(max_length=100, unique=True, help_text="host:pid:random, unique per process start.")
    channel_prefix = models.CharField(
        max_length=120, blank=True, help_text="The channel-layer prefix of the channels of its connections."
    )
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    renewed_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["started_at"]

    def __str__(self):
        return self.name


class Station(models.Model):
    """A charge point as registered by the operator and as it described itself at boot."""

    class RegistrationStatus(models.TextChoices):
        ACCEPTED = "Accepted"
        PENDING = "Pending"
        REJECTED = "Rejected"

    class OcppVersion(models.TextChoices):
        V16 = "1.6", "OCPP 1.6J"
        V201 = "2.0.1", "OCPP 2.0.1"

    class SecurityProfile(models.IntegerChoices):
        """OCPP security profiles (1.6 security whitepaper, 2.0.1 Part 2 A00): how the station must connect."""

        BASIC_AUTH = 1, "1: Basic auth (ws or wss)"
        TLS_BASIC_AUTH = 2, "2: TLS and Basic auth (wss only)"
        TLS_CLIENT_CERTIFICATE = CLIENT_CERTIFICATE_PROFILE, "3: TLS client certificate (wss only, no password)"

    ocpp_id = models.CharField("OCPP id", max_length=48, unique=True, validators=[station_id_validator])
    name = models.CharField(max_length=120, blank=True)
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.SET_NULL, related_name="stations")
    password_hash = models.CharField(max_length=255, blank=True, editable=False)
    registration_status = models.CharField(
        max_length=16, choices=RegistrationStatus.choices, default=RegistrationStatus.ACCEPTED
    )
    ocpp_version = models.CharField(max_length=8, choices=OcppVersion.choices, blank=True)
    security_profile = models.PositiveSmallIntegerField(
        choices=SecurityProfile.choices,
        default=SecurityProfile.BASIC_AUTH,
        validators=[security_profile_available],
        help_text=(
            "1: the station may connect over ws or wss; 2: only over TLS (wss, or a trusted TLS proxy); 3: only over "
            "TLS with a client certificate of the station CA naming the station, never with a password."
        ),
    )

    # What the station told us in BootNotification.
    vendor = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=50, blank=True)
    serial_number = models.CharField(max_length=50, blank=True)
    charge_box_serial_number = models.CharField(max_length=50, blank=True)
    firmware_version = models.CharField(max_length=50, blank=True)
    iccid = models.CharField("ICCID", max_length=20, blank=True)
    imsi = models.CharField("IMSI", max_length=20, blank=True)
    meter_type = models.CharField(max_length=25, blank=True)
    meter_serial_number = models.CharField(max_length=25, blank=True)

    # Connection state, kept by the OCPP consumer.
    is_online = models.BooleanField(default=False)
    channel_name = models.CharField(max_length=120, blank=True, editable=False)
    node = models.ForeignKey(
        Node,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="stations",
        help_text="The daphne process holding the station's socket (while online).",
    )
    connected_at = models.DateTimeField(null=True, blank=True)
    last_boot_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    firmware_status = models.CharField(max_length=32, blank=True)
    firmware_status_at = models.DateTimeField(null=True, blank=True)
    diagnostics_status = models.CharField(max_length=32, blank=True)
    diagnostics_status_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["ocpp_id"]

    def __str__(self):
        return self.ocpp_id

    def set_password(self, raw_password: str | None) -> None:
        """A password that reads as a 1.6 hex AuthorizationKey is kept in lower case (stations.authorization_key)."""
        if not raw_password:
            self.password_hash = ""
            return
        self.password_hash = make_password(key_stored_form(raw_password), hasher="station_pbkdf2_sha256")

    def check_password(self, raw_password: str) -> bool:
        return bool(self.password_hash) and check_password(raw_password, self.password_hash)

    @property
    def requires_tls(self) -> bool:
        return self.security_profile >= self.SecurityProfile.TLS_BASIC_AUTH


class Connector(models.Model):
    """The unit that holds one transaction at a time: the 1.6 connectorId, the 2.0.1 evseId.

    Live values (status, power, state of charge) are updated as the station reports them. Connector 0
    is the station as a whole: its status, and the readings of its main meter.
    """

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="connectors")
    connector_id = models.PositiveIntegerField()
    status = models.CharField(max_length=32, default="Unknown")
    error_code = models.CharField(max_length=50, blank=True)
    info = models.CharField(max_length=50, blank=True)
    vendor_id = models.CharField(max_length=255, blank=True)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    status_at = models.DateTimeField(null=True, blank=True)
    power_w = models.IntegerField(null=True, blank=True)
    soc_percent = models.FloatField(null=True, blank=True)
    energy_register_wh = models.BigIntegerField(null=True, blank=True)
    measured_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["station", "connector_id"]
        constraints = [models.UniqueConstraint(fields=["station", "connector_id"], name="unique_connector_per_station")]

    def __str__(self):
        return f"{self.station.ocpp_id}/{self.connector_id}"


class ConnectorStatusEvent(models.Model):
    """Every status change a station reports, kept for uptime and fault analytics."""

    # Not indexed alone: "status_event_station_recent" serves it (the history is written at every status).
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="status_events", db_index=False)
    connector_id = models.PositiveIntegerField()
    status = models.CharField(max_length=32)
    error_code = models.CharField(max_length=50, blank=True)
    info = models.CharField(max_length=50, blank=True)
    vendor_id = models.CharField(max_length=255, blank=True)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    timestamp = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-timestamp"]
        constraints = [
            # A notification replayed from the station's offline queue adds no second row.
            models.UniqueConstraint(
                fields=["station", "connector_id", "timestamp", "status", "error_code"], name="unique_status_event"
            )
        ]
        # The station page's latest events: read newest first, partition by partition (cms/partitions.py).
        indexes = [models.Index(fields=["station", "-timestamp"], name="status_event_station_recent")]

    def __str__(self):
        return f"{self.station_id}/{self.connector_id} {self.status} at {self.timestamp:%Y-%m-%d %H:%M:%S}"


class DeviceModelVariable(models.Model):
    """One attribute of one variable of an OCPP 2.0.1 station's device model, as its NotifyReport described it.

    A report comes in parts (``tbc``); each part updates the rows it names, so parts may arrive in any
    order. The characteristics are the variable's (repeated on each of its attributes' rows).
    """

    class AttributeType(models.TextChoices):
        ACTUAL = "Actual"
        TARGET = "Target"
        MIN_SET = "MinSet"
        MAX_SET = "MaxSet"

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="device_model")
    component_name = models.CharField(max_length=50)
    component_instance = models.CharField(max_length=50, blank=True)
    evse_id = models.PositiveIntegerField("EVSE id", null=True, blank=True)
    connector_id = models.PositiveIntegerField(null=True, blank=True, help_text="Within the EVSE.")
    variable_name = models.CharField(max_length=50)
    variable_instance = models.CharField(max_length=50, blank=True)
    attribute_type = models.CharField(max_length=8, choices=AttributeType.choices, default=AttributeType.ACTUAL)
    # NULL: the station reported the attribute without a value (a WriteOnly one), which is not the empty string.
    value = models.TextField(null=True, blank=True)  # noqa: DJ001
    mutability = models.CharField(max_length=10, blank=True, help_text="ReadOnly, WriteOnly or ReadWrite.")
    persistent = models.BooleanField(null=True, blank=True)
    constant = models.BooleanField(null=True, blank=True)
    data_type = models.CharField(max_length=16, blank=True)
    unit = models.CharField(max_length=16, blank=True)
    min_limit = models.FloatField(null=True, blank=True)
    max_limit = models.FloatField(null=True, blank=True)
    values_list = models.TextField(blank=True, help_text="The allowed values, comma separated (OptionList, ...).")
    supports_monitoring = models.BooleanField(default=False)
    report_request_id = models.IntegerField(null=True, blank=True, help_text="The report that last described it.")
    reported_at = models.DateTimeField()

    class Meta:
        ordering = ["station", "component_name", "component_instance", "evse_id", "connector_id", "variable_name"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "station",
                    "component_name",
                    "component_instance",
                    "evse_id",
                    "connector_id",
                    "variable_name",
                    "variable_instance",
                    "attribute_type",
                ],
                name="unique_device_model_attribute",
                nulls_distinct=False,
            )
        ]

    def __str__(self):
        component = ":".join(filter(None, [self.component_name, self.component_instance]))
        variable = ":".join(filter(None, [self.variable_name, self.variable_instance]))
        return f"{self.station_id} {component}.{variable} {self.attribute_type}={self.value}"


class OcppMessage(models.Model):
    """One OCPP frame on the wire, in either direction (the station's message log)."""

    class Direction(models.TextChoices):
        IN = "in", "station → CSMS"
        OUT = "out", "CSMS → station"

    class MessageType(models.IntegerChoices):
        CALL = 2
        CALL_RESULT = 3
        CALL_ERROR = 4

    # Not indexed alone: the (station, -created_at) index serves it (two rows per message are written).
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="messages", db_index=False)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    message_type = models.PositiveSmallIntegerField(choices=MessageType.choices, null=True)
    action = models.CharField(max_length=64, blank=True)
    unique_id = models.CharField(max_length=64, blank=True)
    payload = models.JSONField(null=True)
    raw = models.TextField(blank=True, help_text="The frame as received, when it could not be parsed.")
    error_code = models.CharField(max_length=40, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["station", "-created_at"])]

    def __str__(self):
        return f"{self.get_direction_display()} {self.action or self.message_type} {self.unique_id}"


class StationCommand(models.Model):
    """A CSMS-initiated OCPP call and its outcome, whoever issued it (portal, API, Celery, shell)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        ANSWERED = "answered"
        CALL_ERROR = "call_error"
        TIMEOUT = "timeout"
        OFFLINE = "offline"
        INVALID = "invalid"
        # Nothing was sent: the channel layer (Redis) that carries commands to the station's node is away.
        UNAVAILABLE = "unavailable"

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="commands")
    action = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    response = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_description = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    transaction = models.ForeignKey(
        "charging_sessions.Transaction",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="commands",
        help_text="The session a remote start led to, or the one a remote stop ended.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["station", "-created_at"])]

    def __str__(self):
        return f"{self.action} → {self.station_id} ({self.status})"


class ConfigurationKey(models.Model):
    """The last known value of one of a station's configuration keys (1.6 GetConfiguration / ChangeConfiguration)."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="configuration")
    key = models.CharField(max_length=50)
    # NULL: the station reported the key without a value (1.6 allows that), which is not the empty string.
    value = models.TextField(null=True, blank=True)  # noqa: DJ001
    readonly = models.BooleanField(default=False)
    reported_at = models.DateTimeField(help_text="When the station last reported the key, or accepted a change of it.")

    class Meta:
        ordering = ["station", "key"]
        constraints = [models.UniqueConstraint(fields=["station", "key"], name="unique_configuration_key")]

    def __str__(self):
        return f"{self.station_id}: {self.key}={self.value}"
