"""The record that this installation holds the demo network, and the logins it was seeded with."""

from django.db import models


class DemoNetwork(models.Model):
    """At most one row: written by ``demo.services.demo_seed``; its presence puts the portal in demo mode.

    The passwords are kept readable on purpose: the home page of a demo shows them, so that anyone who
    opens it can log in as the operator or as a driver. Nothing here is a real customer's secret.
    """

    operator_email = models.EmailField()
    operator_password = models.CharField(max_length=64)
    driver_email = models.EmailField()
    driver_password = models.CharField(max_length=64)
    station_password = models.CharField(max_length=64, help_text="Basic-auth password of every demo station.")
    station_prefix = models.CharField(max_length=16)
    stations = models.PositiveIntegerField()
    driver_tokens = models.JSONField(default=list, help_text="The drivers' cards, for the simulated fleet.")
    seeded_at = models.DateTimeField(auto_now_add=True)
    seconds = models.FloatField(help_text="How long seeding took.")

    class Meta:
        verbose_name = "demo network"

    def __str__(self):
        return f"Demo network seeded at {self.seeded_at:%Y-%m-%d %H:%M}"
