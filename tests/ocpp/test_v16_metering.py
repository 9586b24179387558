"""MeterValues from a 1.6 station: every measurand, phase, location, unit and context stored normalised."""

from datetime import UTC, datetime

import pytest
from ocpp.v16 import call

from sessions.models import MeterSample, Transaction
from stations.models import Connector
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection

pytestmark = pytest.mark.django_db(transaction=True)

T1 = "2026-01-01T10:00:00Z"
T2 = "2026-01-01T10:01:00Z"


def sampled(value, measurand, unit=None, **fields):
    return {"value": value, "measurand": measurand, **({"unit": unit} if unit else {}), **fields}


THREE_PHASE = [
    sampled("12.5", "Energy.Active.Import.Register", "kWh", context="Sample.Clock", location="Outlet"),
    sampled("3.68", "Power.Active.Import", "kW", phase="L1"),
    sampled("3700", "Power.Active.Import", "W", phase="L2"),
    sampled("3.6", "Power.Active.Import", "kW", phase="L3"),
    sampled("16.1", "Current.Import", "A", phase="L1"),
    sampled("230.4", "Voltage", "V", phase="L1-N"),
    sampled("55", "SoC", "Percent", location="EV"),
    sampled("1.2", "Power.Reactive.Import", "kvar"),
    sampled("600", "Energy.Reactive.Import.Register", "varh"),
    sampled("32", "Current.Offered", "A"),
    sampled("11", "Power.Offered", "kW"),
    sampled("0.98", "Power.Factor"),
    sampled("49.98", "Frequency", "Hertz"),
    sampled("41", "Temperature", "Celsius", location="Body"),
    sampled("104", "Temperature", "Fahrenheit", location="Cable"),
    sampled("300.15", "Temperature", "K", location="Inlet"),
]


@pytest.fixture
def station(make_station):
    return make_station("CP-1")


async def test_every_measurand_is_stored_in_its_normalised_unit(daphne_server, station):
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        assert await cp.call(
            call.MeterValues(connector_id=1, meter_value=[{"timestamp": T1, "sampledValue": THREE_PHASE}])
        )
    stored = {
        (s.measurand, s.phase, s.location): (round(s.value, 2), s.unit, s.context)
        async for s in MeterSample.objects.filter(connector_id=1)
    }
    assert stored == {
        ("Energy.Active.Import.Register", "", "Outlet"): (12500, "Wh", "Sample.Clock"),
        ("Power.Active.Import", "L1", "Outlet"): (3680, "W", "Sample.Periodic"),
        ("Power.Active.Import", "L2", "Outlet"): (3700, "W", "Sample.Periodic"),
        ("Power.Active.Import", "L3", "Outlet"): (3600, "W", "Sample.Periodic"),
        ("Current.Import", "L1", "Outlet"): (16.1, "A", "Sample.Periodic"),
        ("Voltage", "L1-N", "Outlet"): (230.4, "V", "Sample.Periodic"),
        ("SoC", "", "EV"): (55, "Percent", "Sample.Periodic"),
        ("Power.Reactive.Import", "", "Outlet"): (1200, "var", "Sample.Periodic"),
        ("Energy.Reactive.Import.Register", "", "Outlet"): (600, "varh", "Sample.Periodic"),
        ("Current.Offered", "", "Outlet"): (32, "A", "Sample.Periodic"),
        ("Power.Offered", "", "Outlet"): (11000, "W", "Sample.Periodic"),
        ("Power.Factor", "", "Outlet"): (0.98, "", "Sample.Periodic"),
        ("Frequency", "", "Outlet"): (49.98, "Hz", "Sample.Periodic"),
        ("Temperature", "", "Body"): (41, "Celsius", "Sample.Periodic"),
        ("Temperature", "", "Cable"): (40, "Celsius", "Sample.Periodic"),
        ("Temperature", "", "Inlet"): (27, "Celsius", "Sample.Periodic"),
    }
    assert await MeterSample.objects.filter(transaction__isnull=False).acount() == 0


async def test_connector_keeps_live_power_state_of_charge_and_register(daphne_server, station):
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        await cp.call(call.MeterValues(connector_id=1, meter_value=[{"timestamp": T1, "sampledValue": THREE_PHASE}]))
        connector = await Connector.objects.aget(station=station, connector_id=1)
        assert (connector.power_w, connector.soc_percent, connector.energy_register_wh) == (10980, 55, 12500)
        assert connector.measured_at == datetime(2026, 1, 1, 10, tzinfo=UTC)

        later = [sampled("7.4", "Power.Active.Import", "kW"), sampled("61", "SoC", "Percent", location="EV")]
        await cp.call(call.MeterValues(connector_id=1, meter_value=[{"timestamp": T2, "sampledValue": later}]))
        # An older reading, replayed from the station's offline queue, does not overwrite the newer one.
        stale = [sampled("1", "Power.Active.Import", "kW")]
        await cp.call(
            call.MeterValues(connector_id=1, meter_value=[{"timestamp": "2026-01-01T09:00:00Z", "sampledValue": stale}])
        )
    connector = await Connector.objects.aget(station=station, connector_id=1)
    assert (connector.power_w, connector.soc_percent, connector.energy_register_wh) == (7400, 61, 12500)
    assert connector.measured_at == datetime(2026, 1, 1, 10, 1, tzinfo=UTC)


async def test_defaults_apply_when_the_station_omits_measurand_unit_location_and_context(daphne_server, station):
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        await cp.call(
            call.MeterValues(
                connector_id=1,
                meter_value=[
                    {
                        "timestamp": T1,
                        "sampledValue": [{"value": "4200"}, {"value": "16", "measurand": "Current.Import"}],
                    }
                ],
            )
        )
    stored = [(s.measurand, s.unit, s.location, s.context, s.value) async for s in MeterSample.objects.order_by("pk")]
    assert stored == [
        ("Energy.Active.Import.Register", "Wh", "Outlet", "Sample.Periodic", 4200),
        ("Current.Import", "A", "Outlet", "Sample.Periodic", 16),
    ]


async def test_samples_on_connector_zero_are_the_station_main_meter(daphne_server, station):
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        await cp.call(
            call.MeterValues(
                connector_id=0,
                meter_value=[
                    {"timestamp": T1, "sampledValue": [sampled("150.25", "Energy.Active.Import.Register", "kWh")]}
                ],
            )
        )
    main_meter = await Connector.objects.aget(station=station, connector_id=0)
    assert main_meter.energy_register_wh == 150250
    assert await MeterSample.objects.filter(connector_id=0, value=150250).aexists()


async def test_samples_attach_to_the_transaction_named_and_a_replay_adds_nothing(daphne_server, station):
    message = {
        "timestamp": T2,
        "sampledValue": [
            sampled("2.5", "Energy.Active.Import.Register", "kWh"),
            sampled("7.2", "Power.Active.Import", "kW"),
        ],
    }
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="T", meter_start=1000, timestamp=T1))
        for _ in range(2):
            await cp.call(
                call.MeterValues(connector_id=1, transaction_id=started.transaction_id, meter_value=[message])
            )
        # A transactionId the station was never given: kept on an unmatched session of that id.
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=999_999,
                meter_value=[
                    {
                        "timestamp": "2026-01-01T10:02:00Z",
                        "sampledValue": [sampled("3", "Energy.Active.Import.Register", "kWh")],
                    }
                ],
            )
        )
    session = await Transaction.objects.aget(pk=started.transaction_id)
    assert await MeterSample.objects.filter(transaction=session).acount() == 2
    unknown = await Transaction.objects.aget(status=Transaction.Status.UNMATCHED, ocpp_transaction_id="999999")
    assert await MeterSample.objects.filter(transaction=unknown).acount() == 1


async def test_signed_reading_is_kept_with_its_plain_value(daphne_server, station):
    signature = "AP;0;3;ALCV3ABBBISHFA2RVOMR6PQO3KLA5XYPXYUBIHD6;BIHEIWSHAAA4W;;"
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        await cp.call(
            call.MeterValues(
                connector_id=1,
                meter_value=[
                    {
                        "timestamp": T1,
                        "sampledValue": [
                            sampled("12.5", "Energy.Active.Import.Register", "kWh", context="Transaction.End"),
                            sampled(
                                signature,
                                "Energy.Active.Import.Register",
                                "kWh",
                                context="Transaction.End",
                                format="SignedData",
                            ),
                            sampled(signature, "Energy.Active.Export.Register", "kWh", format="SignedData"),
                        ],
                    }
                ],
            )
        )
    plain_and_signed = await MeterSample.objects.aget(measurand="Energy.Active.Import.Register")
    assert (plain_and_signed.value, plain_and_signed.signed_data) == (12500, signature)
    signed_only = await MeterSample.objects.aget(measurand="Energy.Active.Export.Register")
    assert (signed_only.value, signed_only.signed_data, signed_only.unit) == (None, signature, "Wh")


async def test_a_value_that_is_not_a_number_refuses_the_message_and_nothing_of_it_is_stored(daphne_server, station):
    async with ocpp_connection(daphne_server, "CP-1", STATION_PASSWORD) as cp:
        answer = await cp.call(
            call.MeterValues(
                connector_id=1,
                meter_value=[
                    {
                        "timestamp": T1,
                        "sampledValue": [
                            sampled("n/a", "Voltage", "V"),
                            sampled("230", "Voltage", "V", phase="L1-N"),
                        ],
                    }
                ],
            )
        )
    assert answer is None  # the library's client returns None for a CALLERROR (see test_v16_bad_values)
    assert not await MeterSample.objects.aexists()
