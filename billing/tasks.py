"""Celery tasks of the billing app: thin callers of the services.

``price_session`` may run twice for one session (a retry, a duplicate message, a worker killed before it
acknowledged, since tasks are acknowledged late): the service locks the session and finds the first charge.

A worker killed inside pricing loses nothing, and the session is priced soon:

- the task's pool child killed (OOM killer, SIGKILL): tasks are acknowledged late and rejected back to
  the queue when their child dies (``CELERY_TASK_ACKS_LATE``, ``CELERY_TASK_REJECT_ON_WORKER_LOST``), so
  the worker runs it again at once in a new child;
- the whole worker killed: its unacknowledged message comes back only after Redis's visibility timeout
  (one hour). That timeout stays long on purpose: a task waiting for its ETA (a retry with back-off) is
  held unacknowledged, and a shorter timeout would deliver it again while it waits. Instead every worker,
  as it starts, sweeps the stopped sessions left without a charge (``price_what_a_dead_worker_left``),
  and beat runs the same sweep every minute for the case where other workers live on. The message that
  comes back an hour later finds the charge and changes nothing.
"""

from celery import shared_task
from celery.signals import worker_ready

from billing import services


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=600, max_retries=8)
def price_session(transaction_id: int) -> int | None:
    charge = services.session_charge_create(transaction_id=transaction_id)
    return charge.pk if charge else None


@shared_task
def price_missing_sessions(settle_seconds: int = 60) -> int:
    return services.sessions_price_missing(settle_seconds=settle_seconds)


@worker_ready.connect
def price_what_a_dead_worker_left(sender, **kwargs) -> None:
    """A worker starting may replace one that died inside pricing: sweep now, on a queue it consumes."""
    queue = next(iter(sender.app.amqp.queues.consume_from), None)
    price_missing_sessions.apply_async(kwargs={"settle_seconds": 0}, queue=queue)


@shared_task(acks_late=True)
def collect_payment(payment_id: int) -> str:
    return services.payment_collect(payment_id=payment_id).status


@shared_task(acks_late=True)
def collect_payments(payment_ids: list[int]) -> int:
    """The payments of a batch of receipts (``services.payments_create``)."""
    return services.payments_collect_batch(payment_ids=payment_ids)


@shared_task
def retry_failed_payments() -> int:
    return services.payments_retry_due()


@shared_task
def renew_subscriptions() -> int:
    return services.subscriptions_renew_due()


@shared_task
def issue_monthly_statements() -> int:
    return services.statements_issue_due()
