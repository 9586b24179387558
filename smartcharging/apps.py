from django.apps import AppConfig


class SmartChargingConfig(AppConfig):
    name = "smartcharging"
    verbose_name = "Smart charging"

    def ready(self):
        from django.db.models.signals import post_save

        from sessions.models import Transaction
        from smartcharging import signals

        post_save.connect(signals.session_saved, sender=Transaction, dispatch_uid="smartcharging.session_saved")
