from django.apps import AppConfig


class ChargingSessionsConfig(AppConfig):
    name = "sessions"
    # django.contrib.sessions already owns the label "sessions".
    label = "charging_sessions"
    verbose_name = "Charging sessions"
