"""An independent charge point, ocpp-rpc (Node.js) in strict mode, runs a whole session against our server.

Strict mode validates every request it sends and every response we return against the official OCPP 1.6
JSON schemas, so a malformed answer of ours fails here even where our own client library would let it pass.
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
        cwd=NODE_PEER, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    answers = json.loads(result.stdout)
    assert answers["BootNotification"]["status"] == "Accepted"
    assert answers["Authorize"]["idTagInfo"]["status"] == "Accepted"
    assert answers["StartTransaction"]["idTagInfo"]["status"] == "Accepted"
    transaction = await Transaction.objects.aget(pk=answers["StartTransaction"]["transactionId"])
    assert (transaction.meter_start, transaction.meter_stop, transaction.energy_wh) == (1000, 2500, 1500)
    assert transaction.status == Transaction.Status.COMPLETED
