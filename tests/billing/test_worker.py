"""Pricing survives a Celery worker killed mid-task: real worker processes on the Redis broker, kill -9."""

import json
import os
import re
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
from tests.waiting import until_sync

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def real_broker(celery_eager):
    celery_app.conf.task_always_eager = False
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.delete("celery")  # payments the workers queued for collection: no worker here consumes them
    client.close()


def start_worker(queue: str, log_name: str, *, app="tests.billing.worker_app", pool="solo", **env) -> subprocess.Popen:
    """A worker in its own process group (so a test can kill it whole), consuming only ``queue``."""
    environment = {**os.environ, "DATABASE_URL": _database_url(), "DATABASE_CONN_MAX_AGE": "0", **env}
    (ROOT / "var").mkdir(exist_ok=True)
    log = open(ROOT / "var" / log_name, "w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            app,
            "worker",
            "--pool",
            pool,
            "--concurrency",
            "1",
            "-Q",
            queue,
            "-n",
            f"{log_name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    process.log = log
    return process


def stop(process: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        process.wait(timeout=30)
    process.log.close()


def startup_sweep_done(process: subprocess.Popen) -> None:
    """Wait until the worker ran the sweep it queues as it starts (``billing.tasks``)."""
    log = Path(process.log.name)
    wait_for(lambda: re.search(r"price_missing_sessions\[[^]]+\] succeeded", log.read_text()), "the start-up sweep")


def paused_pid(paused: Path) -> int:
    """The process that reached the pause point (see ``billing.hooks``), once it has said so."""
    wait_for(lambda: paused.exists() and paused.read_text(), "the worker to reach the pause point")
    return int(paused.read_text())


def unacked_tags(client: redis.Redis, queue: str) -> list[bytes]:
    """Messages taken from ``queue`` and not acknowledged yet (kombu's Redis layout: hash ``unacked`` of
    tag -> [message, exchange, routing key], sorted set ``unacked_index``)."""
    return [tag for tag, payload in client.hgetall("unacked").items() if json.loads(payload)[2] == queue]


def forget_unacked(client: redis.Redis, queue: str) -> int:
    """Drop the broker's record of messages a killed worker had taken from ``queue``."""
    tags = unacked_tags(client, queue)
    for tag in tags:
        client.hdel("unacked", tag)
        client.zrem("unacked_index", tag)
    return len(tags)


def wait_for(condition, what: str, seconds: float = 45):
    """The worker's pace: a longer wait and a slower poll than the default."""
    return until_sync(condition, within=seconds, what=what, every=0.1)


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


@pytest.mark.faults
def test_a_pool_child_killed_inside_pricing_is_retried_at_once_and_prices_once(
    real_broker, tmp_path, make_session, make_tariff, operator, funded_driver
):
    """Production settings (one-hour visibility timeout): the worker rejects its dead child's task back to
    the queue and a new child prices the session within seconds."""
    make_tariff()
    queue = f"billing-test-{uuid.uuid4().hex[:8]}"
    paused = Path(tmp_path, "price_session.paused")
    worker = start_worker(
        queue,
        f"test-billing-worker-child-{queue}.log",
        app="cms.celery",
        pool="prefork",
        CMS_BILLING_TEST_HOOK_DIR=str(tmp_path),
    )
    try:
        startup_sweep_done(worker)  # so that only the redelivered task can price the session below
        session = make_session(user=funded_driver)
        price_session.apply_async((session.pk,), queue=queue)
        child = paused_pid(paused)
        assert child != worker.pid  # a pool child, not the worker
        paused.unlink()
        Path(tmp_path, "price_session.release").touch()  # the next attempt goes through
        killed_at = time.monotonic()
        os.kill(child, signal.SIGKILL)
        wait_for(lambda: SessionCharge.objects.filter(transaction=session).exists(), "the retried task", 20)
        priced_after = time.monotonic() - killed_at
        wait_for(lambda: real_broker.llen(queue) == 0 and real_broker.hlen("unacked") == 0, "the queue to drain")
        assert worker.poll() is None  # the worker itself lived on
        assert int(paused.read_text()) != child  # priced by a second attempt, in a new child
    finally:
        stop(worker)
    print(f"pool child killed: priced {priced_after:.1f} s later")
    assert SessionCharge.objects.filter(transaction=session).count() == 1
    assert Invoice.objects.filter(customer=funded_driver).count() == 1
    assert Payment.objects.filter(user=funded_driver).count() == 1
    assert Invoice.objects.get().number.endswith("-000001")


@pytest.mark.faults
def test_a_whole_worker_killed_inside_pricing_is_covered_by_the_next_worker_in_seconds_and_prices_once(
    real_broker, tmp_path, make_session, make_tariff, operator, funded_driver
):
    """Production settings: the killed worker's message stays unacknowledged for an hour; the worker that
    replaces it sweeps unpriced sessions as it starts. The message coming back later changes nothing."""
    make_tariff()
    queue = f"billing-test-{uuid.uuid4().hex[:8]}"
    paused = Path(tmp_path, "price_session.paused")
    first = start_worker(
        queue,
        f"test-billing-worker-whole-1-{queue}.log",
        app="cms.celery",
        pool="prefork",
        CMS_BILLING_TEST_HOOK_DIR=str(tmp_path),
    )
    try:
        startup_sweep_done(first)  # a worker that has been running for a while
        session = make_session(user=funded_driver)
        price_session.apply_async((session.pk,), queue=queue)
        paused_pid(paused)
        assert not SessionCharge.objects.exists()
        os.killpg(first.pid, signal.SIGKILL)  # the worker and its pool child, as when its host dies
        first.wait(timeout=10)
        killed_at = time.monotonic()
    finally:
        stop(first)
    assert real_broker.hlen("unacked") >= 1  # the broker still holds the message for the dead worker

    second = start_worker(queue, f"test-billing-worker-whole-2-{queue}.log", app="cms.celery", pool="prefork")
    try:
        wait_for(lambda: SessionCharge.objects.filter(transaction=session).exists(), "the start-up sweep", 30)
        priced_after = time.monotonic() - killed_at
        # Only the original message is left, waiting out its visibility timeout: the sweep priced the session.
        wait_for(
            lambda: real_broker.llen(queue) == 0 and len(unacked_tags(real_broker, queue)) == 1, "the sweeps to finish"
        )
        assert forget_unacked(real_broker, queue) == 1
        price_session.apply_async((session.pk,), queue=queue)  # what its redelivery will do, an hour later
        wait_for(lambda: real_broker.llen(queue) == 0 and real_broker.hlen("unacked") == 0, "the queue to drain")
    finally:
        stop(second)
        forget_unacked(real_broker, queue)
    print(f"whole worker killed: priced {priced_after:.1f} s later, including the new worker's start")
    assert SessionCharge.objects.filter(transaction=session).count() == 1
    assert Invoice.objects.filter(customer=funded_driver).count() == 1
    assert Payment.objects.filter(user=funded_driver).count() == 1
    assert Invoice.objects.get().number.endswith("-000001")
