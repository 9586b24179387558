from django.apps import AppConfig


class SmartChargingConfig(AppConfig):
    name = "smartcharging"
    verbose_name = "Smart charging"

    def ready(self):
        from django.db.models.signals import post_save

        from sessions.models import Transaction
        from sessions.signals import session_stopped
        from smartcharging import signals

        post_save.connect(signals.session_saved, sender=Transaction, dispatch_uid="smartcharging.session_saved")
        session_stopped.connect(signals.session_stopped, dispatch_uid="smartcharging.session_stopped")
