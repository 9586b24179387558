"""Tariffs (what a session costs, where, for whom, from when), their time-of-day periods, and driver groups."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q

PRICE = {"max_digits": 12, "decimal_places": 4, "validators": [MinValueValidator(0)]}
weekdays_validator = RegexValidator(r"^[1-7]{1,7}$", "ISO weekday digits, 1 = Monday … 7 = Sunday, e.g. 12345.")
currency_validator = RegexValidator(r"^[A-Z]{3}$", "An ISO 4217 code in capitals, e.g. EUR.")


def default_currency() -> str:
    from billing.app_settings import app_settings

    return app_settings.CURRENCY


class DriverGroup(models.Model):
    """Drivers who share contract prices: a fleet, the staff, the residents of a building."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="driver_groups")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Tariff(models.Model):
    """The prices of a session, scoped to a station, a site, a driver group, or the whole network.

    Precedence (first match wins, see ``billing.selectors.tariff_for``): a driver group's tariff at the
    station, at the station's site, network-wide; then the public tariff of the station, of its site,
    network-wide. Within one level the tariff in force (valid_from ≤ start < valid_until) with the latest
    ``valid_from`` wins. A session is priced by the tariff in force when it started, to its end: changing
    prices means a new tariff with a later ``valid_from`` (``tariff_new_version``), never editing one that
    has priced sessions.

    Prices are net (tax excluded); the tax rate is added on top.
    """

    name = models.CharField(max_length=120)
    currency = models.CharField(max_length=3, default=default_currency, validators=[currency_validator])
    tax_rate = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Percent, e.g. 19.00.",
    )
    station = models.ForeignKey(
        "stations.Station", null=True, blank=True, on_delete=models.CASCADE, related_name="tariffs"
    )
    site = models.ForeignKey("stations.Site", null=True, blank=True, on_delete=models.CASCADE, related_name="tariffs")
    driver_group = models.ForeignKey(
        DriverGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="tariffs"
    )
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True, help_text="Exclusive; empty means open-ended.")

    price_per_kwh = models.DecimalField("price per kWh", default=0, **PRICE)
    price_per_minute = models.DecimalField("price per minute of charging", default=0, **PRICE)
    start_fee = models.DecimalField(default=0, **PRICE)
    idle_price_per_minute = models.DecimalField("idle fee per minute", default=0, **PRICE)
    idle_grace_minutes = models.PositiveIntegerField(
        default=0, help_text="Free minutes once charging has stopped, before the idle fee starts."
    )
    min_price = models.DecimalField("minimum session price", null=True, blank=True, **PRICE)
    max_price = models.DecimalField("maximum session price", null=True, blank=True, **PRICE)
    min_billable_energy_wh = models.PositiveIntegerField(
        default=1, help_text="Sessions that delivered less energy (Wh) are free: a failed start costs nothing."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "-valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(station__isnull=True) | Q(site__isnull=True), name="tariff_station_or_site"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gt=F("valid_from")), name="tariff_valid_range"
            ),
            models.CheckConstraint(
                condition=Q(min_price__isnull=True) | Q(max_price__isnull=True) | Q(max_price__gte=F("min_price")),
                name="tariff_min_le_max",
            ),
        ]
        indexes = [models.Index(fields=["valid_from"])]

    def __str__(self):
        return f"{self.name} ({self.currency}, from {self.valid_from:%Y-%m-%d})"

    def clean(self):
        if self.station_id and self.site_id:
            raise ValidationError("A tariff applies to a station or to a site, not both.")
        if self.valid_until and self.valid_from and self.valid_until <= self.valid_from:
            raise ValidationError({"valid_until": "Must be after the start of validity."})
        if self.min_price is not None and self.max_price is not None and self.max_price < self.min_price:
            raise ValidationError({"max_price": "Must not be below the minimum price."})

    @property
    def scope(self) -> str:
        where = f"station {self.station}" if self.station_id else f"site {self.site}" if self.site_id else "network"
        return f"{where}, group {self.driver_group}" if self.driver_group_id else where


class TariffPeriod(models.Model):
    """Prices that replace the tariff's own during some hours of some weekdays, in the site's local time.

    ``end_time`` at or before ``start_time`` crosses midnight (22:00-06:00 belongs to the weekday it
    starts on); equal times mean the whole day. An empty price keeps the tariff's. The first matching
    period (by position) applies.
    """

    tariff = models.ForeignKey(Tariff, on_delete=models.CASCADE, related_name="periods")
    name = models.CharField(max_length=60, help_text="Shown on the invoice, e.g. 'Off-peak'.")
    position = models.PositiveIntegerField(default=0)
    weekdays = models.CharField(max_length=7, default="1234567", validators=[weekdays_validator])
    start_time = models.TimeField()
    end_time = models.TimeField()
    price_per_kwh = models.DecimalField("price per kWh", null=True, blank=True, **PRICE)
    price_per_minute = models.DecimalField(null=True, blank=True, **PRICE)
    idle_price_per_minute = models.DecimalField(null=True, blank=True, **PRICE)

    class Meta:
        ordering = ["tariff", "position", "id"]

    def __str__(self):
        return f"{self.name} {self.weekdays} {self.start_time:%H:%M}-{self.end_time:%H:%M}"
