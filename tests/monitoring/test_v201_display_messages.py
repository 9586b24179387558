"""OCPP 2.0.1 display messages (functional block O) end to end: an operator creates, clears and refreshes a
station's messages from the portal, the station (the `ocpp` library's 2.0.1 client) answers over a real socket,
and the messages stored are those the station accepted or last reported."""

from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from monitoring.models import DisplayMessage
from tests.monitoring.support import client_for
from tests.monitoring.v201_support import booted, post
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)


def info(message_id, content, priority="NormalCycle", **extra):
    return {"id": message_id, "priority": priority, "message": {"format": "UTF8", "content": content}, **extra}


class DisplayStation(ChargePoint):
    """Keeps the messages it accepts (not AlwaysFront, not HTML); reports them one per NotifyDisplayMessages part."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shown: dict[int, dict] = {}

    @on(Action.set_display_message)
    def on_set(self, message, **_):
        if message["priority"] == "AlwaysFront":
            return call_result.SetDisplayMessage(status="NotSupportedPriority")
        if message["message"]["format"] == "HTML":
            return call_result.SetDisplayMessage(status="NotSupportedMessageFormat")
        self.shown[message["id"]] = message
        return call_result.SetDisplayMessage(status="Accepted")

    @on(Action.get_display_messages)
    def on_get(self, request_id, **_):
        return call_result.GetDisplayMessages(status="Accepted" if self.shown else "Unknown")

    @after(Action.get_display_messages)
    async def report(self, request_id, **_):
        parts = list(self.shown.values())
        for index, message in enumerate(parts):
            await self.call(
                call.NotifyDisplayMessages(request_id=request_id, message_info=[message], tbc=index < len(parts) - 1)
            )

    @on(Action.clear_display_message)
    def on_clear(self, id, **_):
        return call_result.ClearDisplayMessage(status="Accepted" if self.shown.pop(id, None) else "Unknown")


def command_url(action: str, ocpp_id="CS-201") -> str:
    return reverse("stations:station-display-messages-command", args=[ocpp_id, action])


@pytest.fixture
def station(make_station):
    return make_station("CS-201")


@pytest.fixture
def portal(technician):
    return client_for(technician)


async def stored() -> dict[int, tuple]:
    rows = DisplayMessage.objects.values_list("message_id", "priority", "state", "content", "starts_at", "ends_at")
    return {row[0]: row[1:] async for row in rows}


async def test_a_message_with_priority_and_time_window_is_shown_and_stored_as_accepted(daphne_server, station, portal):
    form = {
        "content": "Free parking until 18:00",
        "priority": "InFront",
        "state": "Idle",
        "format": "UTF8",
        "language": "en",
        "starts_at": "2026-03-01T08:00:00+00:00",
        "ends_at": "2026-03-01T18:00:00+00:00",
    }
    async with booted(daphne_server, DisplayStation) as cp:
        status, shown = await post(portal, command_url("set"), form)
        assert (status, shown) == (200, [("success", "SetDisplayMessage: Accepted")])
        sent = cp.shown[1]
        assert (sent["start_date_time"], sent["end_date_time"]) == (
            "2026-03-01T08:00:00+00:00",
            "2026-03-01T18:00:00+00:00",
        )
        assert sent["message"] == {"format": "UTF8", "language": "en", "content": "Free parking until 18:00"}

        _, shown = await post(portal, command_url("set"), form | {"priority": "AlwaysFront", "content": "Urgent"})
        assert shown == [("warning", "SetDisplayMessage: NotSupportedPriority")]
        _, shown = await post(portal, command_url("set"), form | {"format": "HTML", "content": "<b>Hi</b>"})
        assert shown == [("warning", "SetDisplayMessage: NotSupportedMessageFormat")]
        _, shown = await post(portal, command_url("set"), form | {"ends_at": "2026-03-01T07:00:00+00:00"})
        assert shown == [("error", "The message must end after it starts.")]
    window = (datetime(2026, 3, 1, 8, tzinfo=UTC), datetime(2026, 3, 1, 18, tzinfo=UTC))
    assert await stored() == {1: ("InFront", "Idle", "Free parking until 18:00", *window)}


async def test_refresh_stores_every_part_and_forgets_what_the_station_no_longer_shows(daphne_server, station, portal):
    await DisplayMessage.objects.acreate(station=station, message_id=9, priority="NormalCycle", content="Stale")
    async with booted(daphne_server, DisplayStation) as cp:
        cp.shown = {
            1: info(1, "Welcome"),
            2: info(2, "Card only", "InFront", state="Charging", transaction_id="tx-7"),
            3: info(3, "Out of order", state="Faulted", end_date_time="2026-04-01T00:00:00Z"),
        }
        _, shown = await post(portal, command_url("refresh"))
        assert shown == [("success", "GetDisplayMessages: Accepted")]

        async def all_parts():
            return list(await stored()) == [1, 2, 3]

        await until(all_parts, what="the three parts stored, the stale message gone")
        card_only = await DisplayMessage.objects.aget(message_id=2)
        assert (card_only.priority, card_only.state, card_only.transaction_id) == ("InFront", "Charging", "tx-7")
        assert (await stored())[3][4] == datetime(2026, 4, 1, tzinfo=UTC)

        _, shown = await post(portal, command_url("clear"), {"message_id": 2})
        assert shown == [("success", "ClearDisplayMessage: Accepted")]
        assert list(await stored()) == [1, 3]

        cp.shown = {}
        _, shown = await post(portal, command_url("refresh"))
        assert shown == [("info", "GetDisplayMessages: Unknown")]
        assert await stored() == {}


async def test_commands_to_an_offline_or_1_6_station_say_why_nothing_happened(make_station, portal):
    await sync_to_async(make_station)("CS-16", ocpp_version="1.6")
    _, shown = await post(portal, command_url("refresh", "CS-16"))
    assert shown == [
        ("error", "Nothing was sent. Display messages are not in OCPP 1.6: the station must speak OCPP 2.0.1.")
    ]
    await sync_to_async(make_station)("CS-GONE", ocpp_version="2.0.1")
    _, shown = await post(
        portal, command_url("set", "CS-GONE"), {"content": "Hi", "priority": "NormalCycle", "format": "UTF8"}
    )
    assert shown == [("error", "SetDisplayMessage: Offline (The station is not connected.)")]
    assert await DisplayMessage.objects.acount() == 0


def test_the_page_lists_the_messages_and_only_commanders_change_them(station, analyst):
    DisplayMessage.objects.create(station=station, message_id=4, priority="NormalCycle", content="Hello <there>")
    viewer = client_for(analyst)
    page = viewer.get(reverse("stations:station-display-messages", args=["CS-201"])).content.decode()
    assert "Hello &lt;there&gt;" in page and "Refresh from the station" not in page
    assert viewer.post(command_url("clear"), {"message_id": 4}).status_code == 403
