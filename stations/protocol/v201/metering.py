"""OCPP 2.0.1 functional block J, Metering: MeterValues of an EVSE outside transactions, through the same
services as 1.6; a signed value is kept as received (the signedMeterValue object, as JSON)."""

import json

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from sessions import services
from sessions.metering import SIGNED, Reading, readings_parse
from stations.plausibility import ValueRejected
from stations.protocol.framing import parse_timestamp
from stations.protocol.group_commit import group_commit
from stations.protocol.ocpp_compat import snake_to_camel_case
from stations.protocol.v201.evse import evse_violation


def sampled_values_16(sampled_value: dict) -> list[dict]:
    """A 2.0.1 SampledValueType as the sampled values ``readings_parse`` reads (1.6's shape): the number, in
    its unit with the multiplier applied, and its signature as a second SignedData value of the same reading."""
    common = {key: sampled_value[key] for key in ("measurand", "phase", "location", "context") if key in sampled_value}
    unit_of_measure = sampled_value.get("unit_of_measure") or {}
    if "unit" in unit_of_measure:
        common["unit"] = unit_of_measure["unit"]
    number = sampled_value["value"] * 10 ** unit_of_measure.get("multiplier", 0)
    values = [{**common, "value": repr(number)}]
    if signed := sampled_value.get("signed_meter_value"):
        values.append({**common, "format": SIGNED, "value": json.dumps(snake_to_camel_case(signed))})
    return values


def readings_of(meter_values, *, field: str) -> tuple[list[Reading], list[ValueRejected]]:
    """The readings of a 2.0.1 MeterValueType list (MeterValues, TransactionEvent), and the values refused
    (paths from ``field``, to the station's own sampledValue)."""
    converted: list[tuple] = []
    origins: list[list[int]] = []  # per meterValue: the sampledValue each converted value comes from
    for index, value in enumerate(meter_values):
        timestamp = parse_timestamp(value["timestamp"], field=f"{field}/{index}/timestamp")
        values, origin = [], []
        for position, sampled in enumerate(value["sampled_value"]):
            for one in sampled_values_16(sampled):
                values.append(one)
                origin.append(position)
        converted.append((timestamp, values))
        origins.append(origin)
    readings, rejected = readings_parse(converted)
    refused = []
    for problem in rejected:
        index, _, position, _ = problem.path.split("/")
        path = f"/{field}/{index}/sampledValue/{origins[int(index)][int(position)]}/value"
        refused.append(ValueRejected(path, problem.message))
    return readings, refused


class MeteringHandlers:
    @on(Action.meter_values)
    async def on_meter_values(self, evse_id, meter_value, **_):
        readings, rejected = readings_of(meter_value, field="meterValue")
        with evse_violation(evse_id):
            if rejected:
                raise rejected[0]
            report = services.MeterValuesReport(station=self.station, connector_id=evse_id, readings=readings)
            await group_commit().submit(_record_meter_values, report)
        return call_result.MeterValues()


def _record_meter_values(reports: list) -> list:
    return services.meter_values_record_many(reports=reports)
