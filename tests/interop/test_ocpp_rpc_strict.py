"""An independent charge point, ocpp-rpc (Node.js) in strict mode, runs a session (1.6) and a boot (2.0.1) against us.

Strict mode validates every request it sends and every response we return against the official OCPP JSON
schemas (1.6 and 2.0.1), so a malformed answer of ours fails here even where our own client library would
let it pass.
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from sessions.models import Transaction
from tests.factories import STATION_PASSWORD

NODE_PEER = Path(__file__).parent / "node"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        shutil.which("node") is None or not (NODE_PEER / "node_modules" / "ocpp-rpc").exists(),
        reason="Node.js and `npm ci --prefix tests/interop/node` are needed (scripts/test installs them)",
    ),
]


async def test_strict_ocpp_rpc_station_runs_a_whole_session(daphne_server, make_station):
    from accounts.models import IdToken

    await sync_to_async(make_station)("STRICT-1")
    await IdToken.objects.acreate(token="STRICT-TAG")
    result = await sync_to_async(subprocess.run, thread_sensitive=False)(
        ["node", "strict_station.mjs", f"{daphne_server.ws_url}/ocpp", "STRICT-1", STATION_PASSWORD, "STRICT-TAG"],
        cwd=NODE_PEER,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    answers = json.loads(result.stdout)
    assert answers["BootNotification"]["status"] == "Accepted"
    assert answers["Authorize"]["idTagInfo"]["status"] == "Accepted"
    assert answers["StartTransaction"]["idTagInfo"]["status"] == "Accepted"
    transaction = await Transaction.objects.aget(pk=answers["StartTransaction"]["transactionId"])
    assert (transaction.meter_start, transaction.meter_stop, transaction.energy_wh) == (1000, 2500, 1500)
    assert transaction.status == Transaction.Status.COMPLETED


async def test_strict_ocpp_rpc_2_0_1_station_boots_reports_and_authorizes(daphne_server, make_station):
    from accounts.models import IdToken
    from stations.models import Connector, DeviceModelVariable

    station = await sync_to_async(make_station)("STRICT-201")
    await IdToken.objects.acreate(token="STRICT-TOKEN")
    result = await sync_to_async(subprocess.run, thread_sensitive=False)(
        [
            "node",
            "strict_station_201.mjs",
            f"{daphne_server.ws_url}/ocpp",
            "STRICT-201",
            STATION_PASSWORD,
            "STRICT-TOKEN",
        ],
        cwd=NODE_PEER,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    answers = json.loads(result.stdout)
    assert answers["BootNotification"]["status"] == "Accepted"
    assert answers["GetBaseReport"]["reportBase"] == "FullInventory"
    assert answers["NotifyReport"] == [{}, {}]
    assert answers["Heartbeat"]["currentTime"]
    assert answers["StatusNotification"] == {}
    assert answers["Authorize"]["idTokenInfo"]["status"] == "Accepted"
    assert answers["AuthorizeUnknown"]["idTokenInfo"]["status"] == "Unknown"
    assert await DeviceModelVariable.objects.filter(station=station).acount() == 2
    assert (await Connector.objects.aget(station=station, connector_id=1)).status == "Occupied"
