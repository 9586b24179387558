"""Celery tasks of the pki app (the periodic one scheduled in CELERY_BEAT_SCHEDULE): thin callers of services."""

from celery import shared_task

from pki import services


@shared_task(name="pki.certificate_expiry_alerts", ignore_result=True)
def certificate_expiry_alerts() -> None:
    services.certificate_expiry_alerts()
