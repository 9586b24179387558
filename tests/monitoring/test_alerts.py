"""Alerts open once per condition, notify the on-call list and webhooks (retried), and close when it clears."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from monitoring import alerts
from monitoring.models import Alert, AlertChannel, AlertDelivery, AlertEvent
from sessions.models import MeterSample, Transaction
from stations.models import ConfigurationKey, Connector, Site, Station

Kind = Alert.Kind


@pytest.fixture(autouse=True)
def _thresholds(settings):
    settings.CMS_OCPP_HEARTBEAT_INTERVAL = 30
    settings.CMS_ALERT_OFFLINE_HEARTBEATS = 3  # offline after 90 s of silence
    settings.CMS_ALERT_STUCK_SESSION_MINUTES = 20
    settings.CMS_ALERT_RETRY_MINUTES = [1, 5]


@pytest.fixture
def station(make_station):
    station = make_station(ocpp_id="CP-A1")
    Station.objects.filter(pk=station.pk).update(last_seen_at=timezone.now(), is_online=True, ocpp_version="1.6")
    return Station.objects.get(pk=station.pk)


def seen(station, seconds_ago: float):
    Station.objects.filter(pk=station.pk).update(last_seen_at=timezone.now() - timedelta(seconds=seconds_ago))


def timeline(alert) -> list[str]:
    return list(AlertEvent.objects.filter(alert=alert).values_list("kind", flat=True))


def test_a_silent_station_opens_one_offline_alert_that_closes_when_it_is_heard_again(station):
    seen(station, 60)
    assert alerts.alerts_evaluate().opened == []
    seen(station, 100)
    opened = alerts.alerts_evaluate().opened
    assert [(a.station_id, a.kind, a.severity) for a in opened] == [(station.pk, Kind.OFFLINE, "critical")]
    assert "CP-A1 has sent nothing since" in opened[0].summary
    # Evaluated again and again while silent: still the one alert, its timeline unchanged.
    for _ in range(3):
        result = alerts.alerts_evaluate()
        assert (result.opened, result.closed, result.changed) == ([], [], [])
    assert Alert.objects.count() == 1

    seen(station, 1)
    closed = alerts.alerts_evaluate().closed
    assert [a.pk for a in closed] == [opened[0].pk]
    alert = Alert.objects.get()
    assert alert.closed_at is not None and alert.close_reason == "The condition cleared."
    assert timeline(alert) == ["opened", "closed"]

    # Silent again: a new alert, the old one keeps its history.
    seen(station, 200)
    assert len(alerts.alerts_evaluate().opened) == 1
    assert Alert.objects.filter(closed_at__isnull=True).count() == 1 and Alert.objects.count() == 2


def test_the_station_own_heartbeat_interval_sets_its_offline_threshold(station):
    ConfigurationKey.objects.create(station=station, key="HeartbeatInterval", value="600", reported_at=timezone.now())
    seen(station, 1000)
    assert alerts.alerts_evaluate().opened == []
    assert len(alerts.alerts_evaluate(now=timezone.now() + timedelta(seconds=900)).opened) == 1


def test_a_station_never_seen_is_not_alerted(make_station):
    make_station(ocpp_id="CP-NEW")
    assert alerts.alerts_evaluate(now=timezone.now() + timedelta(days=3)).opened == []


def test_the_database_refuses_a_second_open_alert_for_the_same_condition(station):
    now = timezone.now()
    Alert.objects.create(station=station, kind=Kind.OFFLINE, summary="first", opened_at=now)
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(station=station, kind=Kind.OFFLINE, summary="second", opened_at=now)
    condition = alerts.Condition(station_id=station.pk, kind=Kind.OFFLINE, severity="critical", summary="again")
    assert alerts.alert_open(condition=condition) is None
    Alert.objects.update(closed_at=now)
    assert alerts.alert_open(condition=condition) is not None


def test_a_connector_fault_follows_its_error_code_and_closes_when_the_connector_is_available(station):
    Connector.objects.create(
        station=station, connector_id=2, status="Faulted", error_code="GroundFailure", vendor_error_code="E42"
    )
    Connector.objects.create(station=station, connector_id=1, status="Available", error_code="NoError")
    (alert,) = alerts.alerts_evaluate().opened
    assert (alert.kind, alert.subject, alert.connector_id, alert.severity) == (
        Kind.CONNECTOR_FAULT,
        "connector:2",
        2,
        "critical",
    )
    assert alert.summary == "Connector 2 is faulted: GroundFailure (vendor code E42)"

    Connector.objects.filter(connector_id=2).update(
        status="Charging", error_code="HighTemperature", vendor_error_code=""
    )
    assert [a.pk for a in alerts.alerts_evaluate().changed] == [alert.pk]
    alert.refresh_from_db()
    assert (alert.severity, alert.summary) == ("warning", "Connector 2 reports an error: HighTemperature")

    Connector.objects.filter(connector_id=2).update(status="Available", error_code="NoError")
    assert [a.pk for a in alerts.alerts_evaluate().closed] == [alert.pk]
    assert timeline(alert) == ["opened", "changed", "closed"]


def test_a_session_without_meter_values_is_stuck_until_they_come_again(station):
    long_ago = timezone.now() - timedelta(hours=2)
    session = Transaction.objects.create(
        station=station, connector_id=1, id_tag="T1", meter_start=0, started_at=long_ago
    )
    MeterSample.objects.create(transaction=session, station=station, connector_id=1, timestamp=long_ago, value=10)
    (alert,) = alerts.alerts_evaluate().opened
    assert (alert.kind, alert.transaction_id, alert.subject) == (
        Kind.STUCK_SESSION,
        session.pk,
        f"transaction:{session.pk}",
    )

    MeterSample.objects.create(
        transaction=session, station=station, connector_id=1, timestamp=timezone.now(), value=500
    )
    assert [a.pk for a in alerts.alerts_evaluate().closed] == [alert.pk]


def test_the_sessions_of_a_disconnected_station_are_left_to_its_offline_alert(station):
    Station.objects.filter(pk=station.pk).update(is_online=False)
    Transaction.objects.create(
        station=station, connector_id=1, id_tag="T1", meter_start=0, started_at=timezone.now() - timedelta(hours=2)
    )
    assert alerts.alerts_evaluate().opened == []


def test_a_failed_firmware_update_is_alerted_until_the_next_attempt(station):
    Station.objects.filter(pk=station.pk).update(
        firmware_status="InstallationFailed", firmware_status_at=timezone.now(), firmware_version="1.0.0"
    )
    (alert,) = alerts.alerts_evaluate().opened
    assert alert.kind == Kind.FIRMWARE_FAILED
    assert alert.summary == "Firmware update failed: InstallationFailed. The station still runs 1.0.0."
    Station.objects.filter(pk=station.pk).update(firmware_status="Downloading")
    assert [a.pk for a in alerts.alerts_evaluate().closed] == [alert.pk]


def test_a_security_event_stays_open_until_resolved_and_repeats_go_on_its_timeline(station, technician):
    alert = alerts.alert_security_event(station=station, event_type="TamperDetectionActivated", tech_info="lid")
    assert (alert.kind, alert.severity, alert.is_open) == (Kind.SECURITY_EVENT, "critical", True)
    again = alerts.alert_security_event(station=station, event_type="TamperDetectionActivated")
    assert again.pk == alert.pk
    assert alerts.alerts_evaluate().closed == []  # not a condition that clears by itself

    assert alerts.alert_resolve(alert=alert, user=technician, note="Lid closed, seal replaced")
    alert.refresh_from_db()
    assert alert.close_reason == "Lid closed, seal replaced"
    assert timeline(alert) == ["opened", "repeated", "closed"]


def test_a_routine_security_event_is_recorded_closed(station):
    alert = alerts.alert_security_event(station=station, event_type="StartupOfTheDevice")
    assert (alert.severity, alert.is_open) == ("info", False)


def test_an_alert_that_clears_by_itself_cannot_be_resolved_by_hand(station, technician):
    seen(station, 500)
    (alert,) = alerts.alerts_evaluate().opened
    with pytest.raises(ValueError, match="closes by itself"):
        alerts.alert_resolve(alert=alert, user=technician)


def test_acknowledging_is_recorded_once_and_keeps_the_alert_open(station, technician):
    seen(station, 500)
    (alert,) = alerts.alerts_evaluate().opened
    assert alerts.alert_acknowledge(alert=alert, user=technician, note="On my way")
    assert not alerts.alert_acknowledge(alert=alert, user=technician)
    alert.refresh_from_db()
    assert alert.is_open and alert.acknowledged_by == technician
    assert timeline(alert) == ["opened", "acknowledged"]


# Notifications


@pytest.fixture
def on_call(db):
    return AlertChannel.objects.create(
        name="On call", kind=AlertChannel.Kind.EMAIL, emails="oncall@example.com,\nlead@example.com"
    )


def test_the_on_call_list_is_mailed_when_an_alert_opens_and_when_it_closes(
    station, on_call, mailoutbox, django_capture_on_commit_callbacks
):
    seen(station, 500)
    with django_capture_on_commit_callbacks(execute=True):
        (alert,) = alerts.alerts_evaluate().opened
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["oncall@example.com", "lead@example.com"]
    assert mail.subject == "[Voltgrid] CRITICAL: Station offline on CP-A1"
    assert f"/operator/alerts/{alert.pk}/" in mail.body

    seen(station, 1)
    with django_capture_on_commit_callbacks(execute=True):
        alerts.alerts_evaluate()
    assert mailoutbox[1].subject == "[Voltgrid] Resolved: Station offline on CP-A1"
    assert list(AlertDelivery.objects.values_list("trigger", "status")) == [("closed", "sent"), ("opened", "sent")]
    assert timeline(alert) == ["opened", "notified", "closed", "notified"]


def test_a_webhook_gets_signed_json(station, webhook, django_capture_on_commit_callbacks):
    AlertChannel.objects.create(name="Ops", kind=AlertChannel.Kind.WEBHOOK, url=webhook.url, secret="s3cret")
    seen(station, 500)
    with django_capture_on_commit_callbacks(execute=True):
        (alert,) = alerts.alerts_evaluate().opened
    (request,) = webhook.requests
    assert request["json"]["event"] == "alert.opened"
    assert request["json"]["alert"] | {"details": None, "opened_at": None, "url": None} == {
        "id": alert.pk,
        "kind": "offline",
        "severity": "critical",
        "summary": alert.summary,
        "station": "CP-A1",
        "station_name": "",
        "site": None,
        "connector_id": None,
        "transaction_id": None,
        "details": None,
        "opened_at": None,
        "closed_at": None,
        "close_reason": "",
        "url": None,
    }
    assert request["headers"]["X-Voltgrid-Signature"] == alerts.webhook_signature("s3cret", request["body"])


def test_a_failing_webhook_is_retried_with_back_off_without_holding_up_the_alert(
    station, webhook, django_capture_on_commit_callbacks
):
    AlertChannel.objects.create(name="Ops", kind=AlertChannel.Kind.WEBHOOK, url=webhook.url)
    webhook.failures = 1
    seen(station, 500)
    with django_capture_on_commit_callbacks(execute=True):
        (alert,) = alerts.alerts_evaluate().opened
    delivery = AlertDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        "pending",
        1,
        "RuntimeError: HTTP 500 from the webhook",
    )
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=50)  # the first wait: 1 minute
    assert alerts.alert_deliveries_retry_due() == 0  # not due yet

    assert alerts.alert_deliveries_retry_due(now=timezone.now() + timedelta(minutes=2)) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert len(webhook.requests) == 2
    assert timeline(alert) == ["opened", "notification_failed", "notified"]


def test_a_webhook_that_keeps_failing_is_given_up_after_the_last_retry(
    station, webhook, django_capture_on_commit_callbacks
):
    AlertChannel.objects.create(name="Ops", kind=AlertChannel.Kind.WEBHOOK, url=webhook.url)
    webhook.failures = 99
    seen(station, 500)
    with django_capture_on_commit_callbacks(execute=True):
        alerts.alerts_evaluate()
    for minutes in (2, 10, 20):
        alerts.alert_deliveries_retry_due(now=timezone.now() + timedelta(minutes=minutes))
    delivery = AlertDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 3)  # the first try and the two retries
    assert len(webhook.requests) == 3
    assert AlertEvent.objects.filter(message__contains="gave up on Ops after 3 attempts").exists()


def test_channels_take_only_the_alerts_they_ask_for(station, make_station, webhook, django_capture_on_commit_callbacks):
    depot = Site.objects.create(name="Depot")
    elsewhere = make_station(ocpp_id="CP-B1", site=depot)
    faults_only = AlertChannel.objects.create(
        name="Faults", kind=AlertChannel.Kind.WEBHOOK, url=webhook.url, alert_kinds=["connector_fault"]
    )
    depot_only = AlertChannel.objects.create(name="Depot", kind=AlertChannel.Kind.WEBHOOK, url=webhook.url)
    depot_only.sites.add(depot)
    critical_only = AlertChannel.objects.create(
        name="Critical", kind=AlertChannel.Kind.WEBHOOK, url=webhook.url, min_severity="critical"
    )
    AlertChannel.objects.create(name="Off", kind=AlertChannel.Kind.WEBHOOK, url=webhook.url, is_active=False)
    Station.objects.filter(pk=elsewhere.pk).update(last_seen_at=timezone.now(), is_online=True)
    Connector.objects.create(station=station, connector_id=1, status="Charging", error_code="HighTemperature")
    Connector.objects.create(station=elsewhere, connector_id=1, status="Faulted", error_code="GroundFailure")
    with django_capture_on_commit_callbacks(execute=True):
        alerts.alerts_evaluate()
    sent = set(AlertDelivery.objects.values_list("alert__station__ocpp_id", "channel__name"))
    assert sent == {("CP-A1", "Faults"), ("CP-B1", "Faults"), ("CP-B1", "Depot"), ("CP-B1", "Critical")}
    assert critical_only.deliveries.count() == 1 and faults_only.deliveries.count() == 2


def test_an_e_mail_channel_needs_valid_addresses():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="not an e-mail address"):
        AlertChannel(name="x", kind="email", emails="ops@example.com, nobody").clean()
    with pytest.raises(ValidationError, match="alert kinds"):
        AlertChannel(name="x", kind="webhook", url="https://x.example", alert_kinds=["fire"]).clean()
