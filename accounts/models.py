"""Users (drivers and operator staff) and the credentials that authorise charging."""

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils import timezone


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
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self._create_user(email, password, **extra_fields)


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

    token = models.CharField(max_length=36, unique=True)
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
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["token"]
        verbose_name = "ID token"

    def __str__(self):
        return self.token

    def save(self, *args, **kwargs):
        self.token = self.token.strip().upper()
        super().save(*args, **kwargs)

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()
