"""Users (drivers and operator staff) and the credentials that authorise charging."""

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

# OCPP 2.0.1 IdToken is a 36-character identifier string (1.6 idTag: 20); printable ASCII, no spaces.
id_token_validator = RegexValidator(r"^[!-~]{1,36}$", "Use 1 to 36 letters, digits or punctuation, without spaces.")


def normalize_token(value: str) -> str:
    """The stored form of a token: OCPP compares idTags case-insensitively, so tokens are kept upper-case."""
    return (value or "").strip().upper()


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        """A superuser is made by someone holding the server (runcms's first admin, ``createsuperuser``):
        their address needs no confirmation link, so it is recorded as verified and they log in at once."""
        from allauth.account.models import EmailAddress

        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        user = self._create_user(email, password, **extra_fields)
        EmailAddress.objects.update_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
        return user


class User(AbstractUser):
    """A driver or a member of the operator's staff; staff roles are Django groups."""

    username = None
    email = models.EmailField("e-mail address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        ordering = ["email"]

    def __str__(self):
        return self.email


class IdToken(models.Model):
    """An OCPP idTag / IdToken: an RFID card, an app credential, a key code, ...

    Tokens are case-insensitive in OCPP; they are stored upper-case so that one unique index answers
    every lookup.
    """

    class Type(models.TextChoices):
        ISO14443 = "ISO14443", "RFID (ISO 14443)"
        ISO15693 = "ISO15693", "RFID (ISO 15693)"
        EMAID = "eMAID", "Contract (eMAID)"
        CENTRAL = "Central", "Issued by the CSMS (app, QR)"
        LOCAL = "Local", "Local"
        KEY_CODE = "KeyCode", "Key code"
        MAC_ADDRESS = "MacAddress", "MAC address"

    class Status(models.TextChoices):
        ACCEPTED = "Accepted"
        BLOCKED = "Blocked"
        EXPIRED = "Expired"
        INVALID = "Invalid"

    token = models.CharField(max_length=36, unique=True, validators=[id_token_validator])
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.ISO14443)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACCEPTED)
    expires_at = models.DateTimeField(null=True, blank=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="members",
        help_text="Group (parentIdTag / groupIdToken): tokens of one group may stop each other's sessions.",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="id_tokens"
    )
    label = models.CharField(max_length=100, blank=True)
    activation_code = models.CharField(
        max_length=128,
        blank=True,
        editable=False,
        help_text="Hash of the code printed on the card: a driver adding the card must type it (see id_token_claim).",
    )
    allowed_stations = models.ManyToManyField(
        "stations.Station",
        blank=True,
        related_name="+",
        help_text="Only at these stations (or the sites below); none here and no sites means everywhere.",
    )
    allowed_sites = models.ManyToManyField(
        "stations.Site", blank=True, related_name="+", help_text="Only at stations of these sites."
    )
    list_version = models.BigIntegerField(
        default=0,
        db_index=True,
        editable=False,
        help_text="Local authorization list version of the token's last change (see LocalListVersion).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["token"]
        verbose_name = "ID token"

    def __str__(self):
        return self.token

    def save(self, *args, **kwargs):
        self.token = normalize_token(self.token)
        super().save(*args, **kwargs)

    def clean(self):
        self.token = normalize_token(self.token)
        ancestor, seen = self.parent, set()
        while ancestor is not None:
            if ancestor.pk == self.pk or ancestor.token == self.token or ancestor.pk in seen:
                raise ValidationError({"parent": "A token cannot be its own group, directly or through its groups."})
            seen.add(ancestor.pk)
            ancestor = ancestor.parent

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def display_status(self) -> str:
        """What a driver sees: an accepted token past its expiry date is expired."""
        if self.status == self.Status.ACCEPTED and self.is_expired:
            return self.Status.EXPIRED
        return self.status


class IdTokenEvent(models.Model):
    """The history of a token: who changed what, and every authorisation outcome at a station.

    Authorisations of unknown tokens are kept too (``id_token`` empty), so that operators see which cards
    are being presented that they have not issued.
    """

    class Kind(models.TextChoices):
        CREATED = "created"
        CHANGED = "changed"
        AUTHORIZATION = "authorization"
        DELETED = "deleted"

    class Source(models.TextChoices):
        ADMIN = "admin", "Admin"
        PORTAL = "portal", "Driver portal"
        OPERATOR = "operator", "Operator portal"
        API = "api", "API"
        IMPORT = "import", "CSV import"
        COMMAND = "command", "Management command"
        STATION = "station", "Station"

    class Message(models.TextChoices):
        """The station's message that asked for an authorisation (one charge asks up to three times)."""

        AUTHORIZE = "Authorize", "Authorize"
        START_TRANSACTION = "StartTransaction", "StartTransaction (1.6)"
        STOP_TRANSACTION = "StopTransaction", "StopTransaction (1.6)"
        TRANSACTION_EVENT = "TransactionEvent", "TransactionEvent (2.0.1)"

    id_token = models.ForeignKey(IdToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    token = models.CharField(max_length=36, db_index=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, blank=True, help_text="The new status, or the authorisation outcome.")
    changes = models.JSONField(default=dict, blank=True, help_text='{"field": [old, new], ...}')
    station = models.ForeignKey("stations.Station", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    note = models.CharField(max_length=100, blank=True, help_text="Why an authorisation was refused, ...")
    message = models.CharField(max_length=20, choices=Message.choices, blank=True, help_text="What asked.")
    session = models.ForeignKey(
        "charging_sessions.Transaction",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="authorization_events",
        help_text="The charge the authorisation was for, once known.",
    )
    source = models.CharField(max_length=16, choices=Source.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "ID token event"
        indexes = [models.Index(fields=["id_token", "-created_at"]), models.Index(fields=["kind", "-created_at"])]

    def __str__(self):
        return f"{self.token} {self.kind} {self.status}".strip()


class IdTokenClaim(models.Model):
    """A driver's request to add a card the system already knows but that has no activation code:
    the card is theirs only once an operator approves it on the token's page."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    id_token = models.ForeignKey(IdToken, on_delete=models.CASCADE, related_name="claims")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="id_token_claims")
    label = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "ID token claim"
        constraints = [
            models.UniqueConstraint(
                fields=["id_token", "user"], condition=models.Q(status="pending"), name="one_pending_claim_per_driver"
            )
        ]

    def __str__(self):
        return f"{self.user} claims {self.id_token} ({self.status})"


class LocalListVersion(models.Model):
    """The one row counting changes to the tokens, for stations' local authorization lists (SendLocalList).

    Every change takes the next ``version`` while holding this row's lock, so versions are handed out in
    commit order: a station that has received version N needs the tokens with ``list_version > N``
    (a differential update), or a full update when a token was deleted after N (``full_update_from``).
    """

    version = models.BigIntegerField(default=0)
    full_update_from = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "local list version"

    def __str__(self):
        return f"local list version {self.version}"


class StationLocalList(models.Model):
    """What a station's local authorization list holds, as far as the CSMS knows (kept by stations.local_list).

    ``synced_version`` is the LocalListVersion the station's list reflects (None: unknown, the next update
    is Full); ``station_version`` is the listVersion the station itself holds, a counter of this station's
    own, so that a list sent in several chunks takes strictly increasing versions. After anything but
    success the automatic sync waits until ``next_attempt_at`` (a backoff growing with ``attempts``); a new
    boot or a change of the station's local-list settings ends the wait.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        IN_SYNC = "in_sync", "In sync"
        FAILED = "failed", "Last update failed"
        DISABLED = "disabled", "Disabled on the station"
        NOT_SUPPORTED = "not_supported", "Not supported by the station"

    station = models.OneToOneField(
        "stations.Station", on_delete=models.CASCADE, primary_key=True, related_name="local_list"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    synced_version = models.BigIntegerField(null=True, blank=True)
    station_version = models.BigIntegerField(default=0)
    entries = models.PositiveIntegerField(default=0, help_text="Entries sent in the last full update.")
    send_max_length = models.PositiveIntegerField(
        null=True, blank=True, help_text="SendLocalListMaxLength: entries per SendLocalList (unknown: no limit)."
    )
    list_max_length = models.PositiveIntegerField(
        null=True, blank=True, help_text="LocalAuthListMaxLength: entries the station can hold (unknown: no limit)."
    )
    checked_connection_at = models.DateTimeField(
        null=True, blank=True, help_text="The connection on which the station's list version and limits were read."
    )
    last_update_type = models.CharField(max_length=16, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    checked_at = models.DateTimeField(
        null=True, blank=True, help_text="When the station's list version and local-list settings were last read."
    )
    settings = models.JSONField(
        default=dict,
        blank=True,
        help_text="The station's local-list configuration keys as last read (LocalAuthListEnabled, ...).",
    )
    attempts = models.PositiveIntegerField(default=0, help_text="Unsuccessful attempts since the last success.")
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="No automatic sync before this time (the backoff after an unsuccessful one)."
    )

    class Meta:
        ordering = ["station"]
        verbose_name = "station local list"

    def __str__(self):
        return f"local list of {self.station_id}: {self.get_status_display()}"
