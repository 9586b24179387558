"""The whole path: a station's session over OCPP, priced by a real Celery worker, invoiced and paid from the wallet.

Nothing is called directly: the charge point is the `ocpp` library's client talking to daphne, the stop
queues pricing on the Redis broker, and a separate worker process prices, invoices and collects.
"""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from ocpp.v16 import call

from accounts.models import IdToken
from billing.models import Invoice, Payment, SessionCharge, WalletEntry
from tests.billing.test_worker import real_broker, start_worker, stop  # noqa: F401 - fixture
from tests.factories import STATION_PASSWORD
from tests.ocpp_client import ocpp_connection
from tests.waiting import until

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_station_session_ends_as_a_paid_invoice(
    daphne_server,
    real_broker,  # noqa: F811 - the fixture imported above
    make_tariff,
    operator,
    funded_driver,
    make_station,
):
    await sync_to_async(make_station)("CP-PAID")
    await sync_to_async(make_tariff)(price_per_kwh=Decimal("0.50"), start_fee=Decimal("1.00"))
    await IdToken.objects.acreate(token="PAID-TAG", owner=funded_driver)
    worker = await sync_to_async(start_worker)("celery", f"test-e2e-worker-{uuid.uuid4().hex[:8]}.log")
    try:
        async with ocpp_connection(daphne_server, "CP-PAID", STATION_PASSWORD) as cp:
            await cp.call(call.BootNotification(charge_point_vendor="E2E", charge_point_model="Paid"))
            start = await cp.call(
                call.StartTransaction(
                    connector_id=1,
                    id_tag="PAID-TAG",
                    meter_start=50_000,
                    timestamp=datetime(2026, 3, 4, 10, 0, tzinfo=UTC).isoformat(),
                )
            )
            assert start.id_tag_info["status"] == "Accepted"
            stopped = await cp.call(
                call.StopTransaction(
                    transaction_id=start.transaction_id,
                    meter_stop=62_000,
                    id_tag="PAID-TAG",
                    timestamp=datetime(2026, 3, 4, 11, 0, tzinfo=UTC).isoformat(),
                )
            )
            assert stopped.id_tag_info["status"] == "Accepted"

        await until(
            sync_to_async(
                lambda: Payment.objects.filter(invoice__lines__isnull=False, status=Payment.Status.SUCCEEDED).exists()
            ),
            within=30,
            what="the worker to price, invoice and collect the session",
            every=0.1,
        )
    finally:
        await sync_to_async(stop)(worker)

    charge = await SessionCharge.objects.select_related("invoice").aget(transaction_id=start.transaction_id)
    # 12 kWh at 0.50 plus a 1.00 start fee, 19 % VAT on top.
    assert charge.net_amount == Decimal("7.00")
    assert charge.gross_amount == Decimal("8.33")
    invoice = charge.invoice
    assert invoice.customer_id == funded_driver.pk
    assert invoice.status == Invoice.Status.PAID
    assert invoice.gross_total == Decimal("8.33")
    assert await WalletEntry.objects.filter(
        wallet__user=funded_driver, kind=WalletEntry.Kind.PAYMENT, amount=Decimal("-8.33")
    ).aexists()
