"""Celery tasks of monitoring (periodic ones scheduled in CELERY_BEAT_SCHEDULE): thin callers of services.

They keep the names they had in the stations app, so tasks already queued and the beat schedule find them.
"""

from celery import shared_task

from monitoring import alerts, maintenance


@shared_task(name="stations.evaluate_alerts", ignore_result=True)
def evaluate_alerts() -> None:
    alerts.alerts_evaluate()


@shared_task(name="stations.deliver_alert_notification", ignore_result=True)
def deliver_alert_notification(delivery_id: int) -> None:
    alerts.alert_delivery_send(delivery_id=delivery_id)


@shared_task(name="stations.retry_alert_notifications", ignore_result=True)
def retry_alert_notifications() -> None:
    alerts.alert_deliveries_retry_due()


@shared_task(name="stations.run_maintenance_job", ignore_result=True)
def run_maintenance_job(job_id: int) -> None:
    maintenance.maintenance_job_run(job_id=job_id)


@shared_task(name="stations.refresh_maintenance_jobs", ignore_result=True)
def refresh_maintenance_jobs() -> None:
    maintenance.maintenance_jobs_refresh()
    maintenance.maintenance_jobs_requeue_lost()
