"""Reservations on both OCPP versions: the `ocpp` library's 1.6 and 2.0.1 charge points connected to the running
server answer ReserveNow and CancelReservation, start sessions with the reservation, and report it (2.0.1
ReservationStatusUpdate); the expiry sweep, the API and the operator's page on top."""

import logging
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import IdToken
from accounts.roles import Role
from sessions import reservations as rules
from sessions.models import Reservation, Transaction
from sessions.reservation_requests import ReservationError, reservation_cancel, reservation_create
from sessions.tasks import expire_reservations
from stations.models import Station, StationCommand
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)
Status = Reservation.Status


@pytest.fixture(autouse=True)
def _short_response_timeout(settings):
    settings.CMS_OCPP_RESPONSE_TIMEOUT = 5


class Station16(ChargePoint16):
    """A 1.6 station that answers ReserveNow with ``answer`` and CancelReservation Accepted for what it holds."""

    answer = "Accepted"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reserved: dict[int, dict] = {}

    @on(Action16.reserve_now)
    def on_reserve_now(self, reservation_id, connector_id, expiry_date, id_tag, parent_id_tag=None, **_):
        if self.answer == "Accepted":
            self.reserved[reservation_id] = {"connector_id": connector_id, "id_tag": id_tag, "parent": parent_id_tag}
        return result16.ReserveNow(status=self.answer)

    @on(Action16.cancel_reservation)
    def on_cancel_reservation(self, reservation_id, **_):
        return result16.CancelReservation(status="Accepted" if self.reserved.pop(reservation_id, None) else "Rejected")


class Station201(ChargePoint201):
    """A 2.0.1 station: ReserveNow answered ``answer``, CancelReservation Accepted for what it holds."""

    answer = "Accepted"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reserved: dict[int, dict] = {}

    @on(Action201.get_base_report)
    def on_get_base_report(self, **_):
        return result201.GetBaseReport(status="Accepted")

    @on(Action201.reserve_now)
    def on_reserve_now(self, id, expiry_date_time, id_token, evse_id=None, group_id_token=None, **_):
        if self.answer == "Accepted":
            self.reserved[id] = {"evse_id": evse_id, "id_token": id_token, "group": group_id_token}
        return result201.ReserveNow(status=self.answer)

    @on(Action201.cancel_reservation)
    def on_cancel_reservation(self, reservation_id, **_):
        return result201.CancelReservation(status="Accepted" if self.reserved.pop(reservation_id, None) else "Rejected")


def connected(server, version, client_class=None, ocpp_id="RES-1"):
    if version == "1.6":
        return ocpp_connection(server, ocpp_id, STATION_PASSWORD, ("ocpp1.6",), client_class or Station16)
    return ocpp_connection(server, ocpp_id, STATION_PASSWORD, ("ocpp2.0.1",), client_class or Station201)


async def booted(cp, version, ocpp_id="RES-1"):
    if version == "1.6":
        answer = await cp.call(call16.BootNotification(charge_point_vendor="ABB", charge_point_model="Terra"))
    else:
        boot = call201.BootNotification(charging_station={"vendor_name": "ABB", "model": "Terra"}, reason="PowerUp")
        answer = await cp.call(boot)
    assert answer.status == "Accepted"
    await until(lambda: Station.objects.filter(ocpp_id=ocpp_id, is_online=True).aexists(), what="online")


@pytest.fixture
def station(make_station):
    group = IdToken.objects.create(token="FLEET-1", type="Central")
    IdToken.objects.create(token="CARD-1", parent=group)
    return make_station("RES-1")


def soon(minutes=30):
    return timezone.now() + timedelta(minutes=minutes)


reserve = sync_to_async(reservation_create)
cancel = sync_to_async(reservation_cancel)


async def start_with_reservation(cp, version, reservation_id):
    """The station starts a session for CARD-1 on connector 1 with the reservation."""
    now = datetime.now(UTC).isoformat()
    if version == "1.6":
        started = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="CARD-1", meter_start=100, timestamp=now, reservation_id=reservation_id
            )
        )
        assert started.id_tag_info["status"] == "Accepted"
        return
    await cp.call(
        call201.TransactionEvent(
            event_type="Started",
            timestamp=now,
            trigger_reason="Authorized",
            seq_no=0,
            transaction_info={"transaction_id": "TX-RES-1"},
            evse={"id": 1, "connector_id": 1},
            id_token={"id_token": "CARD-1", "type": "ISO14443"},
            reservation_id=reservation_id,
        )
    )


# Reserving, on each version


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_an_accepted_reservation_is_used_by_the_session_started_with_it(daphne_server, station, version):
    async with connected(daphne_server, version) as cp:
        await booted(cp, version)
        reservation = await reserve(station=station, connector_id=1, id_tag="CARD-1", expires_at=soon())
        assert (reservation.status, reservation.detail) == (Status.ACCEPTED, "")
        held = cp.reserved[reservation.pk]
        if version == "1.6":
            assert held == {"connector_id": 1, "id_tag": "CARD-1", "parent": "FLEET-1"}
        else:
            assert held["evse_id"] == 1
            assert held["id_token"] == {"id_token": "CARD-1", "type": "ISO14443"}
            assert held["group"] == {"id_token": "FLEET-1", "type": "Central"}

        await start_with_reservation(cp, version, reservation.pk)
        await until(
            lambda: Reservation.objects.filter(pk=reservation.pk, status=Status.USED).aexists(), what="reservation used"
        )
    used = await Reservation.objects.select_related("transaction", "command").aget(pk=reservation.pk)
    assert used.transaction.reservation_id == reservation.pk
    assert used.transaction.id_tag == "CARD-1"
    assert used.command.action == "ReserveNow"


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("answer", ["Occupied", "Faulted", "Unavailable", "Rejected"])
async def test_a_reservation_the_station_refuses_keeps_its_reason(daphne_server, station, version, answer):
    refusing = type("Refusing", (Station16 if version == "1.6" else Station201,), {"answer": answer})
    async with connected(daphne_server, version, refusing) as cp:
        await booted(cp, version)
        reservation = await reserve(station=station, id_tag="CARD-1", expires_at=soon())
    assert reservation.status == answer.lower()
    assert reservation.detail == f"The station answered {answer}."
    assert reservation.connector_id is None  # any connector


async def test_a_reservation_for_an_offline_station_fails_with_the_reason(station):
    reservation = await reserve(station=station, id_tag="CARD-1", expires_at=soon())
    assert reservation.status == Status.FAILED
    assert "never connected" in reservation.detail


@pytest.mark.parametrize(
    ("arguments", "expires_in_minutes", "code"),
    [
        ({"id_tag": "CARD-1"}, -1, "expired"),
        ({"id_tag": "X" * 21}, 30, "id_token"),  # 1.6 idTag: 20 characters at most
        ({"id_tag": "CARD-1", "connector_id": 99}, 30, "connector"),
    ],
    ids=["past-expiry", "token-too-long-for-1.6", "no-such-connector"],
)
async def test_what_cannot_be_reserved_is_refused_before_anything_is_sent(
    daphne_server, station, arguments, expires_in_minutes, code
):
    # The expiry is taken when the test runs, not when it is collected: a long run would make "soon" past.
    async with connected(daphne_server, "1.6") as cp:
        await booted(cp, "1.6")
        with pytest.raises(ReservationError) as refused:
            await reserve(station=station, expires_at=soon(expires_in_minutes), **arguments)
    assert refused.value.code == code
    assert not await Reservation.objects.aexists()
    assert not await StationCommand.objects.filter(action="ReserveNow").aexists()


# Cancelling


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_cancelled_reservation_is_released_at_the_station(daphne_server, station, version):
    async with connected(daphne_server, version) as cp:
        await booted(cp, version)
        reservation = await reserve(station=station, id_tag="CARD-1", expires_at=soon())
        cancelled = await cancel(reservation=reservation)
        assert cp.reserved == {}
        assert cancelled.status == Status.CANCELLED
        with pytest.raises(ReservationError) as again:
            await cancel(reservation=cancelled)
    assert again.value.code == "not_holding"


async def test_a_cancel_the_station_refuses_leaves_the_reservation_as_it_was(daphne_server, station):
    async with connected(daphne_server, "2.0.1") as cp:
        await booted(cp, "2.0.1")
        reservation = await reserve(station=station, id_tag="CARD-1", expires_at=soon())
        cp.reserved.clear()  # the station lost it (a reboot)
        with pytest.raises(ReservationError) as refused:
            await cancel(reservation=reservation)
    assert refused.value.code == "rejected"
    assert (await Reservation.objects.aget(pk=reservation.pk)).status == Status.ACCEPTED


# 2.0.1 ReservationStatusUpdate


@pytest.mark.parametrize(("update", "status"), [("Expired", Status.EXPIRED), ("Removed", Status.CANCELLED)])
async def test_a_2_0_1_station_reports_its_reservation_ended(daphne_server, station, update, status):
    async with connected(daphne_server, "2.0.1") as cp:
        await booted(cp, "2.0.1")
        reservation = await reserve(station=station, id_tag="CARD-1", connector_id=1, expires_at=soon())
        await cp.call(call201.ReservationStatusUpdate(reservation_id=reservation.pk, reservation_update_status=update))
        await until(
            lambda: Reservation.objects.filter(pk=reservation.pk, status=status).aexists(), what=f"{status} recorded"
        )


async def test_an_update_for_an_unknown_reservation_is_answered_and_changes_nothing(
    daphne_server, station, make_station
):
    other = await sync_to_async(make_station)("OTHER")
    theirs = await Reservation.objects.acreate(
        station=other, id_tag="CARD-1", expires_at=soon(), status=Status.ACCEPTED
    )
    async with connected(daphne_server, "2.0.1") as cp:
        await booted(cp, "2.0.1")
        for reservation_id in (424242, theirs.pk):
            answer = await cp.call(
                call201.ReservationStatusUpdate(reservation_id=reservation_id, reservation_update_status="Expired")
            )
            assert answer == result201.ReservationStatusUpdate()
    assert (await Reservation.objects.aget(pk=theirs.pk)).status == Status.ACCEPTED


def test_an_update_for_an_unknown_reservation_is_logged(station, caplog):
    with caplog.at_level(logging.WARNING, logger="sessions.reservations"):
        assert rules.reservation_status_update(station=station, reservation_id=777, status="Removed") is None
    [record] = caplog.records
    assert (record.reservation_id, record.status) == (777, "Removed")


def test_an_update_after_the_reservation_ended_does_not_reopen_or_change_it(station):
    used = Reservation.objects.create(station=station, id_tag="CARD-1", expires_at=soon(), status=Status.USED)
    assert rules.reservation_status_update(station=station, reservation_id=used.pk, status="Expired") is None
    used.refresh_from_db()
    assert used.status == Status.USED


# Sessions and the sweep


def test_a_session_naming_another_stations_reservation_is_started_all_the_same(station, make_station, caplog):
    from sessions.services import PresentedIdToken, session_start

    other = make_station("OTHER")
    theirs = Reservation.objects.create(station=other, id_tag="CARD-1", expires_at=soon(), status=Status.ACCEPTED)
    with caplog.at_level(logging.WARNING, logger="sessions.reservations"):
        started = session_start(
            station=station,
            connector_id=1,
            id_token=PresentedIdToken("CARD-1"),
            meter_start=0,
            started_at=timezone.now(),
            reservation_id=theirs.pk,
        )
    assert started.transaction.status == Transaction.Status.ACTIVE
    theirs.refresh_from_db()
    assert theirs.status == Status.ACCEPTED
    assert [record.getMessage() for record in caplog.records] == ["session started with an unknown reservation"]


def test_the_sweep_expires_what_has_passed_and_leaves_the_rest(station):
    def make(status, minutes):
        return Reservation.objects.create(station=station, id_tag="CARD-1", expires_at=soon(minutes), status=status)

    passed = [make(Status.ACCEPTED, -1), make(Status.REQUESTED, -5)]
    kept = [make(Status.ACCEPTED, 5), make(Status.USED, -1), make(Status.CANCELLED, -1), make(Status.OCCUPIED, -1)]
    assert expire_reservations() == 2
    assert expire_reservations() == 0
    assert {r.pk for r in Reservation.objects.filter(status=Status.EXPIRED)} == {r.pk for r in passed}
    assert [Reservation.objects.get(pk=r.pk).status for r in kept] == [r.status for r in kept]


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.sampled_from(Status.values), st.integers(-10_000, 10_000)), max_size=8))
def test_the_sweep_expires_exactly_the_holding_reservations_whose_time_has_come(station, rows):
    Reservation.objects.all().delete()
    now = timezone.now()
    made = [
        Reservation.objects.create(
            station=station, id_tag="CARD-1", expires_at=now + timedelta(seconds=offset), status=status
        )
        for status, offset in rows
    ]
    due = {r.pk for r in made if r.status in rules.HOLDING and r.expires_at <= now}
    assert rules.reservations_expire(now=now) == len(due)
    after = dict(Reservation.objects.values_list("pk", "status"))
    assert after == {r.pk: Status.EXPIRED if r.pk in due else r.status for r in made}


def test_the_sweep_is_on_the_beat_schedule(settings):
    assert {"task": "sessions.expire_reservations", "schedule": 60.0} in settings.CELERY_BEAT_SCHEDULE.values()


# API and portal


def staff(django_user_model, role: Role, email: str):
    user = django_user_model.objects.create_user(email=email, password="staff-pass-123", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=role.value)[0])
    return user


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def in_thread(method, *args, **kwargs):
    return sync_to_async(method, thread_sensitive=False)(*args, **kwargs)


async def test_the_api_reserves_lists_and_cancels(daphne_server, station, django_user_model):
    technician = await sync_to_async(staff)(django_user_model, Role.TECHNICIAN, "tech@example.com")
    analyst = await sync_to_async(staff)(django_user_model, Role.ANALYST, "analyst@example.com")
    tech_api, analyst_api = await sync_to_async(api)(technician), await sync_to_async(api)(analyst)
    body = {"station": "RES-1", "connector_id": 1, "id_tag": "CARD-1", "expires_at": soon().isoformat()}
    async with connected(daphne_server, "2.0.1") as cp:
        await booted(cp, "2.0.1")
        created = await in_thread(tech_api.post, "/api/reservations/", body, format="json")
        assert created.status_code == 201, created.content
        assert (created.data["status"], created.data["station"], created.data["connector_id"]) == (
            "accepted",
            "RES-1",
            1,
        )
        assert (await in_thread(analyst_api.post, "/api/reservations/", body, format="json")).status_code == 403
        listed = await in_thread(analyst_api.get, "/api/reservations/?station=RES-1&status=accepted")
        assert [row["id"] for row in listed.data["results"]] == [created.data["id"]]

        url = f"/api/reservations/{created.data['id']}/cancel/"
        assert (await in_thread(analyst_api.post, url)).status_code == 403
        cancelled = await in_thread(tech_api.post, url)
        assert (cancelled.status_code, cancelled.data["status"]) == (200, "cancelled")
        again = await in_thread(tech_api.post, url)
        assert (again.status_code, again.data["code"]) == (409, "not_holding")

    past = {**body, "expires_at": (timezone.now() - timedelta(minutes=1)).isoformat()}
    refused = await in_thread(tech_api.post, "/api/reservations/", past, format="json")
    assert (refused.status_code, refused.data["code"]) == (400, "expired")
    unknown = await in_thread(tech_api.post, "/api/reservations/", {**body, "station": "NOPE"}, format="json")
    assert unknown.status_code == 400 and "station" in unknown.data


def test_drivers_get_no_reservations_api_and_the_schema_documents_it(station, driver, client):
    assert api(driver).get("/api/reservations/").status_code == 403
    assert APIClient().get("/api/reservations/").status_code in (401, 403)
    schema = client.get("/api/schema/").content.decode()
    assert "/api/reservations/{id}/cancel/" in schema


def test_the_operator_page_lists_reserves_and_is_only_for_staff(station, client, django_user_model, driver):
    technician = staff(django_user_model, Role.TECHNICIAN, "tech@example.com")
    analyst = staff(django_user_model, Role.ANALYST, "analyst@example.com")
    Reservation.objects.create(station=station, id_tag="CARD-1", expires_at=soon(), status=Status.ACCEPTED)

    client.force_login(driver)
    assert client.get("/operator/reservations/").status_code == 403
    client.force_login(analyst)
    page = client.get("/operator/reservations/")
    assert page.status_code == 200 and b"CARD-1" in page.content and b"Reserve a connector" not in page.content
    assert client.post("/operator/reservations/", {}).status_code == 403

    client.force_login(technician)
    page = client.get("/operator/reservations/")
    assert b"Reserve a connector" in page.content and b"/cancel/" in page.content
    # The station is offline: the reservation is stored as failed, with the reason shown.
    expires = (timezone.localtime() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    posted = client.post(
        "/operator/reservations/", {"station": "RES-1", "id_tag": "CARD-1", "expires_at": expires}, follow=True
    )
    assert b"No answer" in posted.content and b"never connected" in posted.content
    invalid = client.post("/operator/reservations/", {"station": "RES-1", "id_tag": "", "expires_at": "soon"})
    assert invalid.status_code == 200 and b"errorlist" in invalid.content


def test_cancelling_from_the_page_says_why_it_did_not_happen(station, client, django_user_model):
    reservation = Reservation.objects.create(
        station=station, id_tag="CARD-1", expires_at=soon(), status=Status.ACCEPTED
    )
    url = f"/operator/reservations/{reservation.pk}/cancel/"
    client.force_login(staff(django_user_model, Role.ANALYST, "analyst@example.com"))
    assert client.post(url).status_code == 403
    client.force_login(staff(django_user_model, Role.TECHNICIAN, "tech@example.com"))
    assert client.get(url).status_code == 405
    page = client.post(url, follow=True)
    assert f"Reservation {reservation.pk} not cancelled".encode() in page.content
    reservation.refresh_from_db()
    assert reservation.status == Status.ACCEPTED  # the station (never connected) could not be told
    assert client.post("/operator/reservations/999999/cancel/").status_code == 404
