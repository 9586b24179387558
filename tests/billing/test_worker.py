"""Pricing survives a Celery worker killed mid-task: real worker processes on the Redis broker, kill -9."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings

from billing.models import Invoice, Payment, SessionCharge
from billing.tasks import price_session
from cms.celery import app as celery_app
from tests.conftest import ROOT, _database_url

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def real_broker(celery_eager):
    celery_app.conf.task_always_eager = False
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.delete("celery")  # payments the workers queued for collection: no worker here consumes them
    client.close()


def start_worker(queue: str, log_name: str, **env) -> subprocess.Popen:
    environment = {**os.environ, "DATABASE_URL": _database_url(), "DATABASE_CONN_MAX_AGE": "0", **env}
    (ROOT / "var").mkdir(exist_ok=True)
    log = open(ROOT / "var" / log_name, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.billing.worker_app", "worker", "--pool", "solo", "-Q", queue,
         "-n", f"{log_name}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "--loglevel", "INFO"],
        cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
    )
    process.log = log
    return process


def stop(process: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        process.wait(timeout=30)
    process.log.close()


def wait_for(condition, what: str, seconds: float = 45):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_a_worker_killed_mid_pricing_leaves_nothing_and_the_redelivered_task_prices_once(
    real_broker, tmp_path, make_session, make_tariff, operator, funded_driver
):
    make_tariff()
    session = make_session(user=funded_driver)
    queue = f"billing-test-{uuid.uuid4().hex[:8]}"
    paused = Path(tmp_path, "price_session.paused")

    first = start_worker(queue, f"test-billing-worker-1-{queue}.log", CMS_BILLING_TEST_HOOK_DIR=str(tmp_path))
    try:
        price_session.apply_async((session.pk,), queue=queue)
        price_session.apply_async((session.pk,), queue=queue)  # a duplicate message, as a retry would send
        wait_for(paused.exists, "the worker to reach the pause point inside the pricing transaction")
        # Priced, invoiced, payment created, not committed: nothing is visible yet.
        assert not SessionCharge.objects.exists()
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop(first)

    second = start_worker(queue, f"test-billing-worker-2-{queue}.log")
    try:
        wait_for(lambda: SessionCharge.objects.filter(transaction=session).exists(), "the redelivered task")
        wait_for(lambda: real_broker.llen(queue) == 0 and real_broker.hlen("unacked") == 0, "the queue to drain")
    finally:
        stop(second)

    assert SessionCharge.objects.filter(transaction=session).count() == 1
    assert Invoice.objects.filter(customer=funded_driver).count() == 1
    assert Payment.objects.filter(user=funded_driver).count() == 1
    year = Invoice.objects.get().issued_at.year
    assert Invoice.objects.get().number == f"VG-{year}-000001"  # the killed attempt used no number


def test_a_task_delivered_again_after_it_committed_changes_nothing(
    real_broker, make_session, make_tariff, operator, funded_driver
):
    make_tariff()
    session = make_session(user=funded_driver)
    queue = f"billing-test-{uuid.uuid4().hex[:8]}"
    worker = start_worker(queue, f"test-billing-worker-3-{queue}.log")
    try:
        price_session.apply_async((session.pk,), queue=queue)
        wait_for(lambda: SessionCharge.objects.filter(transaction=session).exists(), "the first pricing")
        charge = SessionCharge.objects.get(transaction=session)
        for _ in range(3):
            price_session.apply_async((session.pk,), queue=queue)
        wait_for(lambda: real_broker.llen(queue) == 0 and real_broker.hlen("unacked") == 0, "the queue to drain")
    finally:
        stop(worker)
    assert list(SessionCharge.objects.all()) == [charge]
    assert Invoice.objects.count() == Payment.objects.count() == 1
