"""Celery tasks of the billing app: thin callers of the services.

``price_session`` may run twice for one session (a retry, a duplicate message, a worker killed before it
acknowledged, since tasks are acknowledged late): the service locks the session and finds the first charge.
"""

from celery import shared_task

from billing import services


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=600, max_retries=8)
def price_session(transaction_id: int) -> int | None:
    charge = services.session_charge_create(transaction_id=transaction_id)
    return charge.pk if charge else None


@shared_task
def price_missing_sessions() -> int:
    return services.sessions_price_missing()


@shared_task(acks_late=True)
def collect_payment(payment_id: int) -> str:
    return services.payment_collect(payment_id=payment_id).status


@shared_task
def retry_failed_payments() -> int:
    return services.payments_retry_due()


@shared_task
def renew_subscriptions() -> int:
    return services.subscriptions_renew_due()


@shared_task
def issue_monthly_statements() -> int:
    return services.statements_issue_due()
