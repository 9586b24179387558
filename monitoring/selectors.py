"""Reads for monitoring's pages and API: alerts, maintenance jobs, and a station's share of both."""

from django.db.models import Count, Q, QuerySet

from monitoring.maintenance import TRIGGERABLE_16
from monitoring.models import Alert, FirmwareImage, MaintenanceJob, MaintenanceTarget
from stations.models import Site, Station


def alerts_list(*, state: str = "open", kind: str = "", site: Site | None = None, search: str = "") -> QuerySet:
    alerts = Alert.objects.select_related("station__site", "acknowledged_by")
    if state == "open":
        alerts = alerts.filter(closed_at__isnull=True)
    elif state == "closed":
        alerts = alerts.filter(closed_at__isnull=False)
    if kind:
        alerts = alerts.filter(kind=kind)
    if site is not None:
        alerts = alerts.filter(station__site=site)
    if search:
        alerts = alerts.filter(Q(station__ocpp_id__icontains=search) | Q(summary__icontains=search))
    return alerts.order_by("-opened_at", "-pk")


def jobs_list(*, station: Station | None = None, kind: str = "", status: str = "") -> QuerySet:
    jobs = MaintenanceJob.objects.select_related("created_by", "firmware").annotate(
        total=Count("targets"),
        done=Count("targets", filter=~Q(targets__status__in=["pending", "running", "waiting"])),
        succeeded=Count("targets", filter=Q(targets__status="succeeded")),
    )
    if station is not None:
        jobs = jobs.filter(targets__station=station)
    if kind:
        jobs = jobs.filter(kind=kind)
    if status:
        jobs = jobs.filter(status=status)
    return jobs.order_by("-created_at", "-pk")


def job_targets(*, job: MaintenanceJob) -> QuerySet:
    return MaintenanceTarget.objects.filter(job=job).select_related("station__site", "command", "job")


def recent_open_alerts(*, limit: int = 5) -> list[Alert]:
    return list(alerts_list(state="open")[:limit])


def station_monitoring(*, station: Station) -> dict:
    """A station page's alerts and recent jobs, and what its maintenance forms offer."""
    return {
        "open_alerts": station.alerts.filter(closed_at__isnull=True).order_by("-opened_at"),
        "closed_alerts": station.alerts.filter(closed_at__isnull=False).order_by("-opened_at")[:10],
        "jobs": MaintenanceTarget.objects.filter(station=station)
        .select_related("job")
        .order_by("-job__created_at")[:10],
        "firmware_images": FirmwareImage.objects.all()[:50],
        "triggerable": TRIGGERABLE_16,
    }
