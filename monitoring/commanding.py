"""One command to one station from an operator's page, and its outcome in words the operator can read."""

from dataclasses import dataclass

from stations.models import Station, StationCommand
from stations.protocol import outbound
from stations.protocol.commands import station_call_sync
from stations.protocol.outbound import Answer, OutboundCall


@dataclass(frozen=True)
class Sent:
    """A command sent (or not: offline, invalid...) and, when the station answered, what its answer means."""

    command: StationCommand
    answer: Answer | None

    @property
    def accepted(self) -> bool:
        return self.answer is not None and self.answer.accepted

    def describe(self) -> str:
        """ "SetDisplayMessage: NotSupportedPriority", "GetMonitoringReport: Not connected (...)"."""
        if self.answer is not None:
            return f"{self.command.action}: {self.answer.status or self.answer.outcome.value}"
        reason = self.command.get_status_display()
        detail = self.command.error_code or self.command.error_description
        return f"{self.command.action}: {reason}" + (f" ({detail})" if detail else "")


def command_send(*, station: Station, call: OutboundCall, requested_by=None) -> Sent:
    command = station_call_sync(station=station, action=call.action, payload=call.payload, requested_by=requested_by)
    answered = command.status == StationCommand.Status.ANSWERED
    return Sent(command, outbound.answer_of(station.ocpp_version, command) if answered else None)
