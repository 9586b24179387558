"""Display messages of OCPP 2.0.1 stations (functional block O), kept in step with what each station accepted
(SetDisplayMessage), cleared (ClearDisplayMessage) or last reported (NotifyDisplayMessages, possibly in parts).
Once the last part of a report of all messages has arrived, the messages it did not list are gone."""

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import Max

from monitoring.commanding import Sent, command_send
from monitoring.models import DisplayMessage
from stations.models import Station, StationCommand
from stations.protocol import outbound
from stations.protocol.framing import parse_timestamp
from stations.protocol.outbound import Outcome

# ClearDisplayMessage: the message is gone either way.
CLEARED = frozenset({"Accepted", "Unknown"})


def display_message_next_id(*, station: Station) -> int:
    return (DisplayMessage.objects.filter(station=station).aggregate(top=Max("message_id"))["top"] or 0) + 1


def display_message_set(
    *,
    station: Station,
    priority: str,
    content: str,
    message_id: int | None = None,
    format: str = DisplayMessage.Format.UTF8,
    language: str = "",
    state: str = "",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    transaction_id: str = "",
    requested_by=None,
) -> Sent:
    """Show a message (a new one unless ``message_id`` names one to replace); stored once the station accepts it."""
    if message_id is None:
        message_id = display_message_next_id(station=station)
    fields = {
        "priority": priority,
        "content": content,
        "format": format,
        "language": language,
        "state": state,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "transaction_id": transaction_id,
    }
    call = outbound.display_message_set(station.ocpp_version, message_id=message_id, **fields)
    sent = command_send(station=station, call=call, requested_by=requested_by)
    if sent.accepted:
        DisplayMessage.objects.update_or_create(station=station, message_id=message_id, defaults=fields)
    return sent


def display_message_clear(*, station: Station, message_id: int, requested_by=None) -> Sent:
    call = outbound.display_message_clear(station.ocpp_version, message_id=message_id)
    sent = command_send(station=station, call=call, requested_by=requested_by)
    if sent.answer is not None and sent.answer.status in CLEARED:
        DisplayMessage.objects.filter(station=station, message_id=message_id).delete()
    return sent


def display_messages_request(*, station: Station, requested_by=None) -> Sent:
    """Ask for all the station's messages: they arrive as NotifyDisplayMessages (``display_messages_record``);
    Unknown means it has none."""
    call = outbound.display_messages_get(station.ocpp_version)
    sent = command_send(station=station, call=call, requested_by=requested_by)
    if sent.answer is not None and sent.answer.outcome == Outcome.NOTHING_TO_DO:
        DisplayMessage.objects.filter(station=station).delete()
    return sent


def _report_asks_for_all(*, station: Station, request_id: int) -> bool:
    request = (
        StationCommand.objects.filter(station=station, action="GetDisplayMessages", payload__requestId=request_id)
        .values_list("payload", flat=True)
        .first()
    )
    return request is not None and not ({"id", "priority", "state"} & request.keys())


def _moment(value: str | None, field: str) -> datetime | None:
    return parse_timestamp(value, field=field) if value else None


@transaction.atomic
def display_messages_record(*, station: Station, request_id: int, tbc: bool, messages: Sequence[dict]) -> int:
    """One NotifyDisplayMessages part (snake_case MessageInfo, as the handler gets it): its messages stored; the
    last part of a report of all messages removes those it did not list. Returns how many it listed."""
    for index, info in enumerate(messages):
        content = info["message"]
        DisplayMessage.objects.update_or_create(
            station=station,
            message_id=info["id"],
            defaults={
                "priority": info["priority"],
                "state": info.get("state") or "",
                "content": content["content"],
                "format": content["format"],
                "language": content.get("language") or "",
                "starts_at": _moment(info.get("start_date_time"), f"messageInfo/{index}/startDateTime"),
                "ends_at": _moment(info.get("end_date_time"), f"messageInfo/{index}/endDateTime"),
                "transaction_id": info.get("transaction_id") or "",
                "report_request_id": request_id,
            },
        )
    if not tbc and _report_asks_for_all(station=station, request_id=request_id):
        DisplayMessage.objects.filter(station=station).exclude(report_request_id=request_id).delete()
    return len(messages)
