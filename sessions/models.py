"""Charging transactions and the meter samples measured during them."""

from django.conf import settings
from django.db import connection, models


class Transaction(models.Model):
    """One charging session: ``id`` is our own key, ``ocpp_transaction_id`` the station's.

    A 2.0.1 station chooses its transactionId (a string); a 1.6 station is handed one by the CSMS, which
    gives it our own key: a session saved without a station-side id gets ``str(id)`` (see ``save``).

    A station replaying its offline queue sends the same StartTransaction again; the unique
    ``(station, start_key)`` (everything the station sent in it) makes the replay find the first row.
    ``started_at``/``stopped_at`` are the station's timestamps (its receipt time where the station's
    was implausible, see ``anomalies``), ``created_at`` the CSMS's own clock.
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        COMPLETED = "completed"
        # A StopTransaction for a transaction id the CSMS never issued, kept as the station sent it.
        UNMATCHED = "unmatched", "Stop for an unknown transaction"
        # A start the station was told not to go ahead with (refused idTag, ConcurrentTx, ...): never open.
        REFUSED = "refused", "Start refused"

    station = models.ForeignKey("stations.Station", on_delete=models.PROTECT, related_name="transactions")
    connector_id = models.PositiveIntegerField()
    id_tag = models.CharField(max_length=36, blank=True)
    id_token = models.ForeignKey(
        "accounts.IdToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="transactions"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="transactions"
    )
    # The transaction id the station uses: chosen by a 2.0.1 station; str(id) for a session the CSMS numbered
    # (OCPP 1.6); for an unmatched stop, what the station sent. Unique per station.
    ocpp_transaction_id = models.CharField(max_length=36, null=True, blank=True)  # noqa: DJ001 - NULL stays unique
    # The idToken's type (OCPP 2.0.1 IdTokenEnumType); see sessions.services.PresentedIdToken for 1.6 idTags.
    id_token_type = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    authorization_status = models.CharField(max_length=16, blank=True)
    meter_start = models.BigIntegerField(null=True, blank=True, help_text="Wh; unknown for an unmatched stop")
    meter_stop = models.BigIntegerField(null=True, blank=True, help_text="Wh")
    energy_wh = models.BigIntegerField(null=True, blank=True)
    meter_mismatch = models.BooleanField(
        default=False,
        help_text="meterStart/meterStop disagree with the energy register readings, or the meter ran backwards.",
    )
    anomalies = models.JSONField(
        default=list,
        blank=True,
        help_text="What the CSMS corrected or discarded in this session's data, for the operator: "
        '[{"code", "detail", "at"}]; see sessions.anomalies.',
    )
    started_at = models.DateTimeField()
    # connectorId|timestamp as sent (µs since 1970)|meterStart|reservationId|idTag: the replay key of a start.
    start_key = models.CharField(max_length=120, null=True, blank=True, editable=False)  # noqa: DJ001 - NULL stays unique
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=32, blank=True)
    stop_id_tag = models.CharField(max_length=36, blank=True)
    reservation_id = models.IntegerField(null=True, blank=True)
    remote_start_id = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["station", "start_key"], name="unique_transaction_start"),
            models.UniqueConstraint(fields=["station", "ocpp_transaction_id"], name="unique_station_transaction_id"),
        ]
        indexes = [
            models.Index(fields=["station", "status"]),
            models.Index(fields=["id_tag", "status"]),
            models.Index(fields=["started_at"]),
            # The billing sweep's walk over the completed sessions of its window, in the order it prices them:
            # an index-only scan (with the anti-join on the charge's key) that finds the unpriced ones.
            models.Index(
                fields=["created_at", "id"], condition=models.Q(status="completed"), name="transaction_completed_sweep"
            ),
        ]

    def __str__(self):
        return f"Transaction {self.pk} on {self.station_id}/{self.connector_id}"

    def save(self, *args, **kwargs):
        if self._state.adding and self.pk is None and self.ocpp_transaction_id is None:
            # Numbered by the CSMS: the station is handed our own key, taken before the INSERT so that one
            # statement stores both.
            self.pk = _next_id()
            self.ocpp_transaction_id = str(self.pk)
        super().save(*args, **kwargs)


def _next_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [Transaction._meta.db_table])
        return cursor.fetchone()[0]


class MeterSample(models.Model):
    """One sampled value, normalised (see ``sessions.metering``): energy Wh, power W, current A, voltage V.

    Connector 0 is the station's main meter. A signed reading (format SignedData, for calibration
    law) keeps its blob in ``signed_data``; its ``value`` is empty.
    """

    # Not indexed alone: the (transaction, timestamp) and (station, timestamp) indexes serve those lookups, and every
    # index is written at each of the thousands of readings a second the hot path inserts.
    transaction = models.ForeignKey(
        Transaction, null=True, blank=True, on_delete=models.CASCADE, related_name="meter_samples", db_index=False
    )
    station = models.ForeignKey(
        "stations.Station", on_delete=models.CASCADE, related_name="meter_samples", db_index=False
    )
    connector_id = models.PositiveIntegerField()
    timestamp = models.DateTimeField()
    measurand = models.CharField(max_length=64, default="Energy.Active.Import.Register")
    phase = models.CharField(max_length=8, blank=True)
    location = models.CharField(max_length=8, blank=True)
    context = models.CharField(max_length=32, blank=True)
    unit = models.CharField(max_length=16, blank=True)
    value = models.FloatField(null=True, blank=True)
    signed_data = models.TextField(blank=True)

    class Meta:
        ordering = ["timestamp"]
        constraints = [
            # MeterValues replayed from the station's offline queue, or repeated in StopTransaction's
            # transactionData, add nothing.
            models.UniqueConstraint(
                fields=["station", "connector_id", "timestamp", "measurand", "phase", "location", "context"],
                name="unique_meter_sample",
            )
        ]
        indexes = [
            models.Index(fields=["transaction", "timestamp"]),
            models.Index(fields=["station", "timestamp"]),
        ]

    def __str__(self):
        value = "signed" if self.value is None else f"{self.value:g}"
        return f"{self.measurand} {value} {self.unit} at {self.timestamp:%Y-%m-%d %H:%M:%S}"


class TransactionEvent(models.Model):
    """One TransactionEvent a station sent (OCPP 2.0.1), stored once: the unique ``(transaction, seq_no)`` makes
    a replay find the first row. A session's state is folded from its events in seqNo order
    (``sessions.services.session_event_record``), so an offline queue delivered out of order ends the same."""

    class Type(models.TextChoices):
        STARTED = "Started"
        UPDATED = "Updated"
        ENDED = "Ended"

    # Not indexed alone: the unique (transaction, seq_no) serves it.
    transaction = models.ForeignKey(Transaction, on_delete=models.CASCADE, related_name="events", db_index=False)
    seq_no = models.PositiveIntegerField()
    event_type = models.CharField(max_length=8, choices=Type.choices)
    timestamp = models.DateTimeField(help_text="The station's")
    trigger_reason = models.CharField(max_length=32)
    offline = models.BooleanField(default=False, help_text="Sent from the station's offline queue.")
    stopped_reason = models.CharField(max_length=32, blank=True)
    charging_state = models.CharField(max_length=16, blank=True)
    evse_id = models.PositiveIntegerField(null=True, blank=True)
    id_token = models.CharField(max_length=36, blank=True)
    id_token_type = models.CharField(max_length=20, blank=True)
    # The event's own energy register reading (Wh), if it carried one: the session's start and stop meter.
    energy_register_wh = models.FloatField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["transaction", "seq_no"]
        constraints = [
            models.UniqueConstraint(fields=["transaction", "seq_no"], name="unique_transaction_event_seq_no")
        ]

    def __str__(self):
        return f"{self.event_type} #{self.seq_no} of {self.transaction_id}"


class Reservation(models.Model):
    """A connector (EVSE in 2.0.1) held for an id token or its group until ``expires_at`` (ReserveNow).

    Our key is the reservationId the station is given. ``connector_id`` None: any connector of the station.
    The station's answer to ReserveNow sets the status (accepted, or why not: rejected, faulted, occupied,
    unavailable; failed when it gave none), and from accepted it ends cancelled (CancelReservation, or a
    2.0.1 station's ReservationStatusUpdate Removed), expired (the station's Expired, or the CSMS's sweep
    once ``expires_at`` has passed) or used (a session started with its reservationId).
    """

    class Status(models.TextChoices):
        REQUESTED = "requested"
        ACCEPTED = "accepted"
        REJECTED = "rejected"
        FAULTED = "faulted"
        OCCUPIED = "occupied"
        UNAVAILABLE = "unavailable"
        FAILED = "failed", "No answer"
        CANCELLED = "cancelled"
        EXPIRED = "expired"
        USED = "used"

    station = models.ForeignKey("stations.Station", on_delete=models.CASCADE, related_name="reservations")
    connector_id = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: any connector (EVSE).")
    id_tag = models.CharField(max_length=36)
    id_token_type = models.CharField(max_length=20, blank=True)
    id_token = models.ForeignKey(
        "accounts.IdToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="reservations"
    )
    group_id_tag = models.CharField(max_length=36, blank=True, help_text="The group (parent) token that may use it.")
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    detail = models.CharField(max_length=255, blank=True, help_text="Why it ended as it did, in words.")
    command = models.ForeignKey(
        "stations.StationCommand",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The ReserveNow that asked for it.",
    )
    transaction = models.ForeignKey(
        Transaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="reservations"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "expires_at"]), models.Index(fields=["station", "-created_at"])]

    def __str__(self):
        return f"Reservation {self.pk} on {self.station_id}/{self.connector_id or 'any'} ({self.status})"
