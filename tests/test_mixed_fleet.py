"""A fleet of both OCPP versions from the command line, and the demo's: `manage.py simulate --v201-share` /
`--v201-stations`, and `runcms --demo` running each demo station in the version it was seeded with."""

import io
import subprocess

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cms.management.commands import runcms
from sessions.models import Transaction
from stations.models import Station

pytestmark = pytest.mark.django_db(transaction=True)

FAST = ["--connectors", "1", "--session-seconds", "1", "--idle-seconds", "0.05-0.1", "--meter-interval", "0.2"]


def test_simulate_runs_a_share_of_its_stations_as_2_0_1(daphne_server):
    out = io.StringIO()
    arguments = ["--create", "-n", "2", "--prefix", "VMIX-", "--tags", "VMIXTAG1,VMIXTAG2", "--report", "0"]
    call_command(
        "simulate",
        *arguments,
        *FAST,
        "--url",
        f"{daphne_server.ws_url}/ocpp",
        "--duration",
        "4",
        "--v201-share",
        "0.5",
        "--seed",
        "5",
        stdout=out,
    )
    assert "(1 speaking OCPP 2.0.1)" in out.getvalue()
    assert "Done: 2 boots" in out.getvalue() and " 0 errored" in out.getvalue() and "(0 CALLERROR" in out.getvalue()
    stations = dict(Station.objects.filter(ocpp_id__startswith="VMIX-").values_list("ocpp_id", "ocpp_version"))
    assert stations == {"VMIX-001": "1.6", "VMIX-002": "2.0.1"}
    for ocpp_id in stations:
        assert Transaction.objects.filter(station__ocpp_id=ocpp_id, status="completed", energy_wh__gt=0).exists()


def test_simulate_refuses_2_0_1_stations_it_does_not_run_and_a_share_out_of_range(daphne_server):
    url = ["--url", f"{daphne_server.ws_url}/ocpp", "--duration", "0.1", "--report", "0"]
    with pytest.raises(CommandError, match="not simulated: SIM-009"):
        call_command("simulate", "-n", "2", *url, "--v201-stations", "SIM-002,SIM-009", stdout=io.StringIO())
    with pytest.raises(CommandError, match="v201-share"):
        call_command("simulate", "-n", "2", *url, "--v201-share", "1.5", stdout=io.StringIO())


def test_the_demo_fleet_runs_the_seeded_2_0_1_stations_as_2_0_1(monkeypatch):
    from demo.services import demo_seed

    network = demo_seed(days=7).network
    v201 = set(Station.objects.filter(ocpp_version="2.0.1").values_list("ocpp_id", flat=True))
    assert v201 == {f"DEMO-{n:03d}" for n in range(4, network.stations + 1, 4)}

    started = []

    class Started:
        pid = 0

        def __init__(self, argv):
            started.append(argv)

    monkeypatch.setattr(subprocess, "Popen", Started)
    runcms.Command(stdout=io.StringIO())._start_fleet(network, "127.0.0.1", 8123)
    [argv] = started
    assert set(argv[argv.index("--v201-stations") + 1].split(",")) == v201
