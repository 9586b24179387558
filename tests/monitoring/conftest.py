"""Fixtures of the monitoring tests: staff of each role, Celery in-process, simulated stations over real sockets,
a webhook receiver, and the files that maintenance leaves under MEDIA_ROOT cleaned up."""

import contextlib

import pytest

from tests.monitoring.support import WebhookReceiver
from tests.waiting import until_sync

SETTLE_TIMEOUT = 5.0


@pytest.fixture(autouse=True)
def _jobs_run_in_process(celery_eager):
    """Jobs queued on commit run in-process here; the worker tests switch to the real broker."""


@pytest.fixture(autouse=True)
def _short_response_timeout(settings):
    """The caller's wait for a station (the server under test already uses 5 s): a lost answer fails fast."""
    settings.CMS_OCPP_RESPONSE_TIMEOUT = 5


@pytest.fixture(autouse=True)
def server_settles_before_teardown(request):
    """Let the server finish with its connections before the flush (see tests/ocpp/conftest.py)."""
    if "daphne_server" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("transactional_db")
    yield
    from stations.models import Station

    def settled() -> bool:
        return not Station.objects.filter(is_online=True).exists()

    until_sync(settled, within=SETTLE_TIMEOUT, every=0.02, quiet=True)


@pytest.fixture(autouse=True)
def _remove_maintenance_files(request):
    """Firmware and diagnostics files go to MEDIA_ROOT, which the daphne child shares: remove them after."""
    yield
    if "db" not in request.fixturenames and "transactional_db" not in request.fixturenames:
        return
    from monitoring.models import FirmwareImage, MaintenanceTarget

    with contextlib.suppress(Exception):
        for image in FirmwareImage.objects.all():
            image.file.delete(save=False)
        for target in MaintenanceTarget.objects.exclude(file=""):
            target.file.delete(save=False)


@pytest.fixture
def files_url(settings, daphne_server):
    """Stations download from and upload to the daphne server under test."""
    settings.CMS_STATION_FILES_URL = daphne_server.http_url
    return daphne_server.http_url


@pytest.fixture
def make_staff(db, django_user_model):
    from django.contrib.auth.models import Group

    def make(role: str, email: str | None = None):
        user = django_user_model.objects.create_user(
            email=email or f"{role}@example.com", password=f"{role}-pass-123", is_staff=True
        )
        user.groups.add(Group.objects.get_or_create(name=role)[0])
        return user

    return make


@pytest.fixture
def technician(make_staff):
    return make_staff("technician")


@pytest.fixture
def analyst(make_staff):
    return make_staff("analyst")


@pytest.fixture
def finance_user(make_staff):
    return make_staff("finance")


@pytest.fixture
def webhook():
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()
