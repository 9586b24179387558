"""The operator's CA, the certificates it issued to stations, and the certificates stations say they hold."""

from django.conf import settings
from django.db import models

from stations.models import Station, StationCommand


class CertificateAuthority(models.Model):
    """A CA of the operator; one of each purpose is active (issues, and signs the CRL), earlier ones stay for
    their certificates.

    The station CA issues the stations' TLS client certificates (security profile 3). ISO 15118 SECC (V2G)
    certificates are issued by another: the CPO Sub-CA of the V2G PKI that EVs trust, imported, never generated
    here. Kept apart, an SECC certificate (whose CN, the SECC-ID, the CSMS cannot check) never chains to the CA
    that daphne verifies station logins against.

    The private key is stored only encrypted (PKCS#8, with the passphrase from the environment: see app_settings).
    """

    class Purpose(models.TextChoices):
        STATION = "station", "Station CA (OCPP TLS client certificates)"
        V2G = "v2g", "V2G CPO Sub-CA (ISO 15118 SECC certificates)"

    name = models.CharField(max_length=255)
    purpose = models.CharField(max_length=8, choices=Purpose.choices, default=Purpose.STATION)
    certificate_pem = models.TextField()
    chain_pem = models.TextField(
        blank=True, help_text="PEM: the CAs above it up to, not including, its root (sent with what it issues)."
    )
    private_key_pem = models.TextField(help_text="Encrypted PKCS#8 PEM.")
    serial_number = models.CharField(max_length=40)
    fingerprint_sha256 = models.CharField(max_length=64, unique=True)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    is_active = models.BooleanField(default=True)
    imported = models.BooleanField(default=False, help_text="Imported rather than generated here.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "certificate authorities"
        constraints = [
            models.UniqueConstraint(
                fields=["purpose"], condition=models.Q(is_active=True), name="one_active_ca_per_purpose"
            )
        ]

    def __str__(self):
        return self.name


class IssuedCertificate(models.Model):
    """A certificate the CA signed for a station's CSR, and whether the station took it (CertificateSigned)."""

    class Type(models.TextChoices):
        CHARGING_STATION = "ChargingStationCertificate", "Charging station (TLS client)"
        V2G = "V2GCertificate", "ISO 15118 SECC (V2G)"

    class Delivery(models.TextChoices):
        PENDING = "pending", "Not sent yet"
        ACCEPTED = "accepted", "Accepted by the station"
        REJECTED = "rejected", "Rejected by the station"
        FAILED = "failed", "Not delivered"

    class Reason(models.TextChoices):
        # RFC 5280 CRLReason, by cryptography's x509.ReasonFlags values.
        UNSPECIFIED = "unspecified"
        KEY_COMPROMISE = "keyCompromise", "Key compromise"
        CA_COMPROMISE = "cACompromise", "CA compromise"
        AFFILIATION_CHANGED = "affiliationChanged", "Affiliation changed"
        SUPERSEDED = "superseded"
        CESSATION_OF_OPERATION = "cessationOfOperation", "Cessation of operation"

    authority = models.ForeignKey(CertificateAuthority, on_delete=models.PROTECT, related_name="issued")
    # Kept when the station is deleted: its revocation must still be published.
    station = models.ForeignKey(Station, null=True, on_delete=models.SET_NULL, related_name="issued_certificates")
    station_ocpp_id = models.CharField(max_length=48)
    certificate_type = models.CharField(max_length=32, choices=Type.choices, default=Type.CHARGING_STATION)
    serial_number = models.CharField(max_length=40, unique=True, help_text="Hexadecimal, as OCPP writes it.")
    subject = models.CharField(max_length=255)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    fingerprint_sha256 = models.CharField(max_length=64)
    certificate_pem = models.TextField()
    csr_sha256 = models.CharField(max_length=64, help_text="A CSR sent again gets this certificate again.")
    issued_at = models.DateTimeField()
    delivery = models.CharField(max_length=16, choices=Delivery.choices, default=Delivery.PENDING)
    delivery_command = models.ForeignKey(
        StationCommand, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    delivery_detail = models.CharField(max_length=255, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_reason = models.CharField(max_length=32, choices=Reason.choices, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-issued_at"]
        indexes = [models.Index(fields=["station", "csr_sha256"]), models.Index(fields=["not_after"])]

    def __str__(self):
        return f"{self.subject} ({self.serial_number})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class InstalledCertificate(models.Model):
    """A certificate a station reported holding (GetInstalledCertificateIds), as of the last read of its type."""

    class Type(models.TextChoices):
        # The 2.0.1 words; a 1.6 station's CentralSystemRootCertificate is a CSMSRootCertificate here.
        CSMS_ROOT = "CSMSRootCertificate", "CSMS root"
        MANUFACTURER_ROOT = "ManufacturerRootCertificate", "Manufacturer root"
        V2G_ROOT = "V2GRootCertificate", "V2G root"
        MO_ROOT = "MORootCertificate", "Mobility operator root"
        V2G_CHAIN = "V2GCertificateChain", "V2G certificate chain"

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="installed_certificates")
    certificate_type = models.CharField(max_length=32, choices=Type.choices)
    hash_algorithm = models.CharField(max_length=8)
    issuer_name_hash = models.CharField(max_length=128)
    issuer_key_hash = models.CharField(max_length=128)
    serial_number = models.CharField(max_length=40)
    children = models.JSONField(default=list, blank=True, help_text="2.0.1 childCertificateHashData (a V2G chain).")
    read_at = models.DateTimeField()
    read_command = models.ForeignKey(StationCommand, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["certificate_type", "serial_number"]

    def __str__(self):
        return f"{self.certificate_type} {self.serial_number} on {self.station_id}"

    def hash_data(self) -> dict:
        """The CertificateHashDataType naming it, as DeleteCertificate takes it."""
        return {
            "hashAlgorithm": self.hash_algorithm,
            "issuerNameHash": self.issuer_name_hash,
            "issuerKeyHash": self.issuer_key_hash,
            "serialNumber": self.serial_number,
        }


# What InstallCertificate takes: the root types (a V2G chain is the station's own, from SignCertificate).
INSTALLABLE_TYPES = [choice for choice in InstalledCertificate.Type.choices if choice[0] != "V2GCertificateChain"]
