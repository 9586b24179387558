"""Alerts: conditions found on stations, opened once per condition, notified, and closed when they clear.

``alerts_evaluate`` (Celery beat) finds the conditions that close by themselves: stations silent for
too many heartbeat intervals, faulted connectors, sessions without meter values, failed firmware
updates. Security events are raised by the OCPP layer (``alert_security_event``) and resolved by an
operator. Opening and closing queue one notification per matching channel (on-call e-mail lists,
webhooks), sent by a Celery task and retried with back-off by beat until sent or given up; they never
hold up the evaluation. Every step goes on the alert's timeline.
"""

import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, Subquery
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from cms.app_settings import setting
from monitoring.models import Alert, AlertChannel, AlertDelivery, AlertEvent
from sessions.models import MeterSample, Transaction
from stations.app_settings import app_settings
from stations.models import ConfigurationKey, Connector, Station

logger = logging.getLogger(__name__)

Kind = Alert.Kind
Severity = Alert.Severity
Trigger = AlertDelivery.Trigger

SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
# The kinds evaluated periodically: they open and close with their condition.
EVALUATED_KINDS = (Kind.OFFLINE, Kind.CONNECTOR_FAULT, Kind.STUCK_SESSION, Kind.FIRMWARE_FAILED)
# FirmwareStatusNotification statuses that end an update in failure (1.6, its security extension, 2.0.1).
FIRMWARE_FAILURES = frozenset(
    {"DownloadFailed", "InstallationFailed", "InvalidSignature", "InstallVerificationFailed", "InstallRebootFailed"}
)
NO_ERROR = ("", "NoError")
# Security events that follow routine operation (every boot logs some): recorded, not raised as open alerts.
ROUTINE_SECURITY_EVENTS = frozenset({"StartupOfTheDevice", "ResetOrReboot", "SettingSystemTime", "FirmwareUpdated"})
CRITICAL_SECURITY_EVENTS = frozenset(
    {
        "TamperDetectionActivated",
        "InvalidFirmwareSignature",
        "InvalidFirmwareSigningCertificate",
        "AttemptedReplayAttacks",
        "SecurityLogWasCleared",
        "MemoryExhaustion",
    }
)
# NotifyEvent: the triggers of a monitor's event, and the monitor severities (0 Danger .. 9 Debug) that alert by
# default (Alert and worse) and that make the alert critical (Critical and worse).
RAISING_TRIGGERS = frozenset({"Alerting", "Delta"})
DEFAULT_MONITOR_SEVERITY = 5
CRITICAL_MONITOR_SEVERITY = 3
# A delivery being sent is invisible to other senders for this long (a crashed sender's is retried after it).
DELIVERY_LEASE = timedelta(minutes=2)


@dataclass(frozen=True)
class Condition:
    """Something wrong, as found now; the alert for it is keyed by (station, kind, subject)."""

    station_id: int
    kind: str
    severity: str
    summary: str
    subject: str = ""
    details: dict = field(default_factory=dict)
    connector_id: int | None = None
    transaction_id: int | None = None

    @property
    def key(self) -> tuple:
        return (self.station_id, self.kind, self.subject)


@dataclass
class Evaluation:
    opened: list[Alert] = field(default_factory=list)
    closed: list[Alert] = field(default_factory=list)
    changed: list[Alert] = field(default_factory=list)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# Conditions


def offline_conditions(*, now: datetime) -> list[Condition]:
    """Stations that have sent nothing for CMS_ALERT_OFFLINE_HEARTBEATS of their heartbeat intervals.

    The interval is the station's own HeartbeatInterval when its configuration is known, else the one
    every station is given at boot. Stations never seen are not alerted (nothing is expected of them).
    """
    intervals = {}
    configured = ConfigurationKey.objects.filter(key="HeartbeatInterval").values_list("station_id", "value")
    for station_id, value in configured:
        try:
            intervals[station_id] = int(value)
        except (TypeError, ValueError):
            continue
    conditions = []
    stations = Station.objects.filter(last_seen_at__isnull=False).exclude(
        registration_status=Station.RegistrationStatus.REJECTED
    )
    for pk, ocpp_id, last_seen_at, is_online in stations.values_list("pk", "ocpp_id", "last_seen_at", "is_online"):
        interval = intervals.get(pk) or app_settings.HEARTBEAT_INTERVAL
        threshold = app_settings.ALERT_OFFLINE_HEARTBEATS * interval
        if (now - last_seen_at).total_seconds() <= threshold:
            continue
        conditions.append(
            Condition(
                station_id=pk,
                kind=Kind.OFFLINE,
                severity=Severity.CRITICAL,
                summary=f"{ocpp_id} has sent nothing since {_utc(last_seen_at)}.",
                details={"last_seen_at": _iso(last_seen_at), "threshold_seconds": threshold, "connected": is_online},
            )
        )
    return conditions


def fault_conditions() -> list[Condition]:
    """Connectors reporting Faulted, or an error code with any status (connector 0 is the station itself)."""
    conditions = []
    rows = Connector.objects.filter(Q(status="Faulted") | ~Q(error_code__in=NO_ERROR)).select_related("station")
    for connector in rows:
        faulted = connector.status == "Faulted"
        code = "" if connector.error_code in NO_ERROR else connector.error_code
        what = "The station" if connector.connector_id == 0 else f"Connector {connector.connector_id}"
        summary = f"{what} {'is faulted' if faulted else 'reports an error'}: {code or 'no error code given'}"
        if connector.vendor_error_code:
            summary += f" (vendor code {connector.vendor_error_code})"
        conditions.append(
            Condition(
                station_id=connector.station_id,
                kind=Kind.CONNECTOR_FAULT,
                connector_id=connector.connector_id,
                subject=f"connector:{connector.connector_id}",
                summary=summary[:255],
                severity=Severity.CRITICAL if faulted else Severity.WARNING,
                details={
                    "status": connector.status,
                    "error_code": connector.error_code,
                    "info": connector.info,
                    "vendor_id": connector.vendor_id,
                    "vendor_error_code": connector.vendor_error_code,
                    "since": _iso(connector.status_at),
                },
            )
        )
    return conditions


def stuck_session_conditions(*, now: datetime) -> list[Condition]:
    """Sessions of connected stations with no meter value for CMS_ALERT_STUCK_SESSION_MINUTES.

    A disconnected station's sessions are covered by its offline alert.
    """
    minutes = app_settings.ALERT_STUCK_SESSION_MINUTES
    if minutes <= 0:
        return []
    cutoff = now - timedelta(minutes=minutes)
    last_sample = MeterSample.objects.filter(transaction=OuterRef("pk")).order_by("-timestamp").values("timestamp")[:1]
    connector_reading = Connector.objects.filter(
        station=OuterRef("station"), connector_id=OuterRef("connector_id")
    ).values("measured_at")[:1]
    sessions = (
        Transaction.objects.filter(status=Transaction.Status.ACTIVE, station__is_online=True, started_at__lt=cutoff)
        .annotate(last_sample=Subquery(last_sample), connector_reading=Subquery(connector_reading))
        .values_list("pk", "station_id", "connector_id", "started_at", "last_sample", "connector_reading")
    )
    conditions = []
    for pk, station_id, connector_id, started_at, last_sample_at, reading_at in sessions:
        last = max(moment for moment in (started_at, last_sample_at, reading_at) if moment is not None)
        if last >= cutoff:
            continue
        conditions.append(
            Condition(
                station_id=station_id,
                kind=Kind.STUCK_SESSION,
                subject=f"transaction:{pk}",
                severity=Severity.WARNING,
                connector_id=connector_id,
                transaction_id=pk,
                summary=f"Session {pk} on connector {connector_id} has had no meter values since {_utc(last)}.",
                details={"last_reading_at": _iso(last), "started_at": _iso(started_at)},
            )
        )
    return conditions


def firmware_conditions() -> list[Condition]:
    """Stations whose last firmware status is a failure; cleared by the next status (a new attempt, Installed)."""
    rows = Station.objects.filter(firmware_status__in=FIRMWARE_FAILURES).values_list(
        "pk", "firmware_status", "firmware_status_at", "firmware_version"
    )
    return [
        Condition(
            station_id=pk,
            kind=Kind.FIRMWARE_FAILED,
            severity=Severity.CRITICAL,
            summary=f"Firmware update failed: {status}. The station still runs {version or 'an unknown version'}.",
            details={"firmware_status": status, "at": _iso(at), "firmware_version": version},
        )
        for pk, status, at, version in rows
    ]


# Opening and closing


def alerts_evaluate(*, now: datetime | None = None) -> Evaluation:
    """Open an alert for each condition found that has none open; close the open ones whose condition cleared."""
    now = now or timezone.now()
    found = {}
    for condition in (
        *offline_conditions(now=now),
        *fault_conditions(),
        *stuck_session_conditions(now=now),
        *firmware_conditions(),
    ):
        found[condition.key] = condition
    result = Evaluation()
    open_alerts = Alert.objects.filter(closed_at__isnull=True, kind__in=EVALUATED_KINDS)
    known = set()
    for alert in open_alerts:
        key = (alert.station_id, alert.kind, alert.subject)
        known.add(key)
        condition = found.get(key)
        if condition is None:
            if _close(alert, now=now, reason="The condition cleared."):
                result.closed.append(alert)
        elif _update(alert, condition, now=now):
            result.changed.append(alert)
    for key, condition in found.items():
        if key not in known:
            alert = alert_open(condition=condition, now=now)
            if alert is not None:
                result.opened.append(alert)
    return result


def alert_open(*, condition: Condition, now: datetime | None = None) -> Alert | None:
    """Open the alert of ``condition``; None when one is open already (perhaps opened at this very moment)."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                station_id=condition.station_id,
                kind=condition.kind,
                subject=condition.subject,
                severity=condition.severity,
                summary=condition.summary[:255],
                details=condition.details,
                connector_id=condition.connector_id,
                transaction_id=condition.transaction_id,
                opened_at=now,
            )
            AlertEvent.objects.create(
                alert=alert, kind=AlertEvent.Kind.OPENED, message=alert.summary, data=condition.details, at=now
            )
            _queue_deliveries(alert, Trigger.OPENED)
    except IntegrityError:
        return None
    logger.warning(
        "alert opened",
        extra={"alert_id": alert.pk, "station_pk": alert.station_id, "kind": alert.kind, "summary": alert.summary},
    )
    return alert


def _update(alert: Alert, condition: Condition, *, now: datetime) -> bool:
    """The condition holds, perhaps in another form (another error code): keep the alert current."""
    if alert.summary == condition.summary[:255] and alert.severity == condition.severity:
        return False
    with transaction.atomic():
        Alert.objects.filter(pk=alert.pk).update(
            summary=condition.summary[:255], severity=condition.severity, details=condition.details
        )
        AlertEvent.objects.create(
            alert=alert, kind=AlertEvent.Kind.CHANGED, message=condition.summary[:255], data=condition.details, at=now
        )
    alert.summary, alert.severity, alert.details = condition.summary[:255], condition.severity, condition.details
    return True


def _close(alert: Alert, *, now: datetime, reason: str, actor=None) -> bool:
    with transaction.atomic():
        if not Alert.objects.filter(pk=alert.pk, closed_at__isnull=True).update(
            closed_at=now, close_reason=reason[:120]
        ):
            return False  # closed meanwhile
        alert.closed_at, alert.close_reason = now, reason[:120]
        AlertEvent.objects.create(alert=alert, kind=AlertEvent.Kind.CLOSED, message=reason[:255], actor=actor, at=now)
        _queue_deliveries(alert, Trigger.CLOSED)
    logger.info("alert closed", extra={"alert_id": alert.pk, "kind": alert.kind, "reason": reason})
    return True


def alert_acknowledge(*, alert: Alert, user, note: str = "") -> bool:
    """Someone is on it: recorded on the timeline; the alert stays open until its condition clears."""
    now = timezone.now()
    with transaction.atomic():
        if not Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
            acknowledged_at=now, acknowledged_by=user
        ):
            return False
        AlertEvent.objects.create(
            alert=alert,
            kind=AlertEvent.Kind.ACKNOWLEDGED,
            actor=user,
            at=now,
            message=(note or f"Acknowledged by {user.get_username()}")[:255],
        )
    alert.acknowledged_at, alert.acknowledged_by = now, user
    return True


def alert_resolve(*, alert: Alert, user, note: str = "") -> bool:
    """Close an alert that has no condition to clear by itself (a security event) once an operator has seen to it."""
    if alert.kind in EVALUATED_KINDS:
        raise ValueError("This alert closes by itself when its condition clears.")
    return _close(alert, now=timezone.now(), reason=note or f"Resolved by {user.get_username()}", actor=user)


def alert_security_event(
    *, station: Station, event_type: str, tech_info: str = "", occurred_at: datetime | None = None
) -> Alert | None:
    """A SecurityEventNotification (1.6 security extension, 2.0.1): an alert until an operator resolves it.

    The same event type again while its alert is open goes on that alert's timeline. Routine events
    (a boot, a clock set) are kept as an alert closed at once, so the station's history shows them.
    """
    now = timezone.now()
    details = {"type": event_type, "tech_info": tech_info, "occurred_at": _iso(occurred_at or now)}
    severity = Severity.CRITICAL if event_type in CRITICAL_SECURITY_EVENTS else Severity.WARNING
    routine = event_type in ROUTINE_SECURITY_EVENTS
    summary = f"Security event {event_type}" + (f": {tech_info}" if tech_info else "")
    condition = Condition(
        station_id=station.pk,
        kind=Kind.SECURITY_EVENT,
        subject=event_type[:64],
        severity=Severity.INFO if routine else severity,
        summary=summary[:255],
        details=details,
    )
    if routine:
        with transaction.atomic():
            alert = Alert.objects.create(
                station=station,
                kind=Kind.SECURITY_EVENT,
                subject="",
                severity=Severity.INFO,
                summary=condition.summary,
                details=details,
                opened_at=now,
                closed_at=now,
                close_reason="Routine event",
            )
            AlertEvent.objects.create(alert=alert, kind=AlertEvent.Kind.OPENED, message=alert.summary, at=now)
            AlertEvent.objects.create(alert=alert, kind=AlertEvent.Kind.CLOSED, message="Routine event", at=now)
        return alert
    alert = alert_open(condition=condition, now=now)
    if alert is None:
        alert = Alert.objects.filter(
            station=station, kind=Kind.SECURITY_EVENT, subject=condition.subject, closed_at__isnull=True
        ).first()
        if alert is not None:
            AlertEvent.objects.create(
                alert=alert, kind=AlertEvent.Kind.REPEATED, message=condition.summary, data=details, at=now
            )
    return alert


def _event_subject(event: dict) -> str:
    """Which variable of which component an event is about: "EVSE@2:Problem", "Connector@1.2:Temperature"."""
    component, variable = event["component"], event["variable"]
    evse = component.get("evse") or {}
    where = component["name"] + (f"/{component['instance']}" if component.get("instance") else "")
    if evse:
        where += f"@{evse['id']}" + (f".{evse['connector_id']}" if evse.get("connector_id") else "")
    name = variable["name"] + (f"/{variable['instance']}" if variable.get("instance") else "")
    return f"{where}:{name}"[:64]


def monitor_alert_severity() -> int:
    """The least severe monitor (0 Danger .. 9 Debug) whose events raise alerts."""
    return setting("CMS_ALERT_MONITOR_SEVERITY", DEFAULT_MONITOR_SEVERITY, int)


def device_events_alert(*, station: Station, events: Sequence[dict]) -> Evaluation:
    """NotifyEvent (OCPP 2.0.1, snake_case as the handler gets it): an alert per variable in trouble.

    Raised by an Alerting or Delta event of a monitor at least as severe as CMS_ALERT_MONITOR_SEVERITY (0 Danger
    .. 9 Debug; the monitor as stored from the station), or by a component's Problem becoming true; closed when
    the station reports the event cleared or the Problem false. An operator may resolve it meanwhile.
    """
    from monitoring.models import VariableMonitor

    threshold = monitor_alert_severity()
    monitor_ids = {event["variable_monitoring_id"] for event in events if event.get("variable_monitoring_id")}
    severities = dict(
        VariableMonitor.objects.filter(station=station, monitor_id__in=monitor_ids).values_list(
            "monitor_id", "severity"
        )
    )
    now = timezone.now()
    result = Evaluation()
    for event in events:
        subject = _event_subject(event)
        value = str(event.get("actual_value", ""))
        problem = event["variable"]["name"] == "Problem"
        severity = severities.get(event.get("variable_monitoring_id"))
        if (problem and value.lower() == "false") or event.get("cleared"):
            for alert in Alert.objects.filter(
                station=station, kind=Kind.DEVICE_EVENT, subject=subject, closed_at__isnull=True
            ):
                if _close(alert, now=now, reason="The station reported it cleared."):
                    result.closed.append(alert)
            continue
        monitored = event["trigger"] in RAISING_TRIGGERS and severity is not None and severity <= threshold
        if not ((problem and value.lower() == "true") or monitored):
            continue
        details = {
            "event_id": event["event_id"],
            "trigger": event["trigger"],
            "actual_value": value,
            "monitor_id": event.get("variable_monitoring_id"),
            "monitor_severity": severity,
            "tech_code": event.get("tech_code", ""),
            "tech_info": event.get("tech_info", ""),
            "timestamp": event["timestamp"],
        }
        summary = f"{subject} is {value}" + (f": {details['tech_info']}" if details["tech_info"] else "")
        condition = Condition(
            station_id=station.pk,
            kind=Kind.DEVICE_EVENT,
            subject=subject,
            severity=Severity.CRITICAL if problem or severity <= CRITICAL_MONITOR_SEVERITY else Severity.WARNING,
            summary=summary[:255],
            details=details,
            connector_id=(event["component"].get("evse") or {}).get("id"),
        )
        alert = alert_open(condition=condition, now=now)
        if alert is not None:
            result.opened.append(alert)
            continue
        for alert in Alert.objects.filter(station=station, kind=Kind.DEVICE_EVENT, subject=subject, closed_at=None):
            AlertEvent.objects.create(
                alert=alert, kind=AlertEvent.Kind.REPEATED, message=condition.summary, data=details, at=now
            )
            result.changed.append(alert)
    return result


# Notifications


def _channel_wants(channel: AlertChannel, alert: Alert, site_ids: set[int]) -> bool:
    if channel.alert_kinds and alert.kind not in channel.alert_kinds:
        return False
    if SEVERITY_RANK[alert.severity] < SEVERITY_RANK[channel.min_severity]:
        return False
    return not site_ids or alert.station.site_id in site_ids


def _queue_deliveries(alert: Alert, trigger: str) -> None:
    """One delivery per channel that wants the alert, sent after the commit; a closing goes where its opening went."""
    if trigger == Trigger.OPENED:
        channels = [
            channel
            for channel in AlertChannel.objects.filter(is_active=True).prefetch_related("sites")
            if _channel_wants(channel, alert, {site.pk for site in channel.sites.all()})
        ]
    else:
        channels = list(
            AlertChannel.objects.filter(
                is_active=True, notify_on_close=True, deliveries__alert=alert, deliveries__trigger=Trigger.OPENED
            ).distinct()
        )
    if not channels:
        return
    now = timezone.now()
    AlertDelivery.objects.bulk_create(
        [AlertDelivery(alert=alert, channel=channel, trigger=trigger, next_attempt_at=now) for channel in channels],
        ignore_conflicts=True,
    )
    ids = list(
        AlertDelivery.objects.filter(
            alert=alert, trigger=trigger, attempts=0, status=AlertDelivery.Status.PENDING
        ).values_list("pk", flat=True)
    )

    def send():
        from monitoring.tasks import deliver_alert_notification

        for pk in ids:
            try:
                deliver_alert_notification.delay(pk)
            except Exception:
                # The broker is down: beat's retry of due deliveries sends it later.
                logger.warning("alert notification not queued", exc_info=True, extra={"delivery_id": pk})

    transaction.on_commit(send)


def alert_payload(alert: Alert, trigger: str) -> dict:
    station = alert.station
    return {
        "event": f"alert.{trigger}",
        "alert": {
            "id": alert.pk,
            "kind": alert.kind,
            "severity": alert.severity,
            "summary": alert.summary,
            "station": station.ocpp_id,
            "station_name": station.name,
            "site": station.site.name if station.site else None,
            "connector_id": alert.connector_id,
            "transaction_id": alert.transaction_id,
            "details": alert.details,
            "opened_at": _iso(alert.opened_at),
            "closed_at": _iso(alert.closed_at),
            "close_reason": alert.close_reason,
            "url": app_settings.PORTAL_URL + reverse("stations:alert", args=[alert.pk]),
        },
    }


def webhook_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _send(delivery: AlertDelivery) -> None:
    alert, channel = delivery.alert, delivery.channel
    payload = alert_payload(alert, delivery.trigger)
    if channel.kind == AlertChannel.Kind.EMAIL:
        context = {"alert": alert, "payload": payload["alert"], "trigger": delivery.trigger}
        subject = render_to_string("monitoring/email/alert_subject.txt", context).strip()
        body = render_to_string("monitoring/email/alert.txt", context)
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, channel.recipients(), fail_silently=False)
        return
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Voltgrid-Alerts/1",
        "X-Voltgrid-Event": payload["event"],
        "X-Voltgrid-Delivery": str(delivery.pk),
    }
    if channel.secret:
        headers["X-Voltgrid-Signature"] = webhook_signature(channel.secret, body)
    response = requests.post(
        channel.url, data=body, headers=headers, timeout=app_settings.ALERT_WEBHOOK_TIMEOUT, allow_redirects=False
    )
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"HTTP {response.status_code} from the webhook")


def alert_delivery_send(*, delivery_id: int, now: datetime | None = None) -> str | None:
    """Send one due delivery; on failure schedule the next attempt, or give up after the last. Its new status."""
    now = now or timezone.now()
    claimed = AlertDelivery.objects.filter(
        pk=delivery_id, status=AlertDelivery.Status.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + DELIVERY_LEASE)
    if not claimed:
        return None  # sent, given up, not due, or being sent by another worker
    delivery = AlertDelivery.objects.select_related("alert__station__site", "channel").get(pk=delivery_id)
    try:
        _send(delivery)
        error = ""
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:1000]
    attempts = delivery.attempts + 1
    retry_minutes = app_settings.ALERT_RETRY_MINUTES
    channel = delivery.channel.name
    with transaction.atomic():
        if not error:
            status, next_attempt_at = AlertDelivery.Status.SENT, now
            event = AlertEvent(kind=AlertEvent.Kind.NOTIFIED, message=f"{delivery.trigger.title()}: sent to {channel}")
        elif attempts > len(retry_minutes):
            status, next_attempt_at = AlertDelivery.Status.FAILED, now
            event = AlertEvent(
                kind=AlertEvent.Kind.NOTIFICATION_FAILED,
                message=f"{delivery.trigger.title()}: gave up on {channel} after {attempts} attempts",
            )
        else:
            status = AlertDelivery.Status.PENDING
            next_attempt_at = now + timedelta(minutes=retry_minutes[attempts - 1])
            event = AlertEvent(
                kind=AlertEvent.Kind.NOTIFICATION_FAILED,
                message=f"{delivery.trigger.title()}: {channel} failed, retrying at {_utc(next_attempt_at)}",
            )
        AlertDelivery.objects.filter(pk=delivery.pk).update(
            status=status,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            last_error=error,
            sent_at=now if not error else None,
        )
        event.alert_id, event.at, event.data = delivery.alert_id, now, {"channel": channel, "error": error}
        event.message = event.message[:255]
        event.save()
    log = logger.info if not error else logger.warning
    log("alert notification", extra={"delivery_id": delivery.pk, "status": status, "error": error})
    return status


def alert_deliveries_retry_due(*, now: datetime | None = None) -> int:
    """Send every delivery whose next attempt is due (failed ones, and any whose queued task was lost)."""
    now = now or timezone.now()
    due = list(
        AlertDelivery.objects.filter(status=AlertDelivery.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:500]
    )
    for pk in due:
        alert_delivery_send(delivery_id=pk, now=now)
    return len(due)


def alert_keep_current(*, alert: Alert, condition: Condition, now: datetime | None = None) -> bool:
    """For conditions another app evaluates (certificate expiry): the alert follows the condition's new form."""
    return _update(alert, condition, now=now or timezone.now())


def alert_close(*, alert: Alert, reason: str, now: datetime | None = None) -> bool:
    """For conditions another app evaluates (certificate expiry): close the alert, its condition gone."""
    return _close(alert, now=now or timezone.now(), reason=reason)
