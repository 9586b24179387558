from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing and payments"

    def ready(self):
        from billing import session_costs
        from billing.services.pricing import session_ended
        from sessions.costs import CostSource, cost_source_register
        from sessions.signals import session_stopped

        session_stopped.connect(session_ended, dispatch_uid="billing.session_ended")
        cost_source_register(
            CostSource(
                tariff_text=session_costs.tariff_text,
                running_costs=session_costs.running_costs,
                final_cost=session_costs.final_cost,
            )
        )
