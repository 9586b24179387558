from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing and payments"

    def ready(self):
        from billing.services.pricing import session_ended
        from sessions.signals import session_stopped

        session_stopped.connect(session_ended, dispatch_uid="billing.session_ended")
