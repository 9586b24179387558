"""Authorize and DataTransfer from a 1.6 station."""

from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from ocpp.v16 import call

from accounts.models import IdToken
from stations.services import station_data_transfer
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection

pytestmark = pytest.mark.django_db(transaction=True)


def answer_ping(*, station, message_id, data):
    return ("Accepted", f"pong from {station.ocpp_id}: {message_id} {data}")


async def test_authorize_answers_id_tag_info_with_status_expiry_and_parent(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1")
    group = await IdToken.objects.acreate(token="FLEET-1")
    expiry = datetime(2031, 6, 1, tzinfo=UTC)
    await IdToken.objects.acreate(token="GOOD-1", parent=group, expires_at=expiry)
    await IdToken.objects.acreate(token="BLOCKED-1", status=IdToken.Status.BLOCKED)
    await IdToken.objects.acreate(token="OLD-1", expires_at=datetime.now(UTC) - timedelta(days=1))
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        good = await cp.call(call.Authorize(id_tag="good-1"))
        blocked = await cp.call(call.Authorize(id_tag="BLOCKED-1"))
        expired = await cp.call(call.Authorize(id_tag="OLD-1"))
        unknown = await cp.call(call.Authorize(id_tag="NOBODY"))
    assert good.id_tag_info["status"] == "Accepted"
    assert good.id_tag_info["parent_id_tag"] == "FLEET-1"
    assert datetime.fromisoformat(good.id_tag_info["expiry_date"]) == expiry
    assert blocked.id_tag_info["status"] == "Blocked"
    assert expired.id_tag_info["status"] == "Expired"
    assert unknown.id_tag_info == {"status": "Invalid"}


async def test_data_transfer_for_an_unknown_vendor_is_answered_unknown_vendor_id(daphne_server, make_station):
    await sync_to_async(make_station)("CP-1")
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        answer = await cp.call(call.DataTransfer(vendor_id="com.example", message_id="ping", data="1"))
    assert answer.status == "UnknownVendorId"


def test_data_transfer_is_answered_by_the_handler_configured_for_its_vendor(make_station, settings):
    settings.CMS_OCPP_DATA_TRANSFER_HANDLERS = {"com.example": f"{__name__}.answer_ping"}
    station = make_station("CP-1")
    assert station_data_transfer(station=station, vendor_id="com.example", message_id="ping", data="1") == (
        "Accepted",
        "pong from CP-1: ping 1",
    )
    assert station_data_transfer(station=station, vendor_id="com.other")[0] == "UnknownVendorId"
