"""Schemathesis against our own /api/schema/: generated requests to every operation, on real PostgreSQL.

Each response must not be a server error and must agree with the schema: a documented status code, the
documented content type and a body matching the documented schema. Operators call as an operator admin (token),
/api/me/... and the driver's billing views as a driver. Half the generated path parameters are swapped for objects
that exist (see ``real_path_values``), so detail views answer with real bodies, not only 404s. Commands reach no
station (none is connected): they answer 409 offline, which is what is checked there. Deterministic and bounded
(``MAX_EXAMPLES`` per operation and generation mode, positive and negative: about 1,200 requests, ~90 s of CPU) so
it runs in the normal test command. Generated strings include NUL; the page-bound, NUL and id cases it may not hit
by chance are pinned in test_bad_input.py.
"""

import zlib
from contextlib import contextmanager

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

MAX_EXAMPLES = 12
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
DRIVER_PATHS = ("/api/me/", "/api/billing/wallet/", "/api/billing/can-start/")
# Nothing is excluded: every operation's side effects stay in the test's database transaction (Celery jobs are
# queued on commit, which never comes), commands find no connected station, uploads go to a temporary MEDIA_ROOT.


@contextmanager
def connection_kept_open():
    """As Django's test client does: requests must not close the database connection when they end, as it
    holds the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


with connection_kept_open():  # serving the schema reads no table
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True)


@pytest.fixture
def requests_keep_the_connection(db):
    with connection_kept_open():
        yield


def real_path_values(network) -> dict[str, dict[str, list]]:
    """For each path template, the values of its parameters that name existing objects."""
    n = network
    return {
        "/api/stations/{ocpp_id}/": {"ocpp_id": [n.station.ocpp_id, n.new_station.ocpp_id]},
        "/api/commands/{id}/": {"id": [n.command.pk]},
        "/api/id-tokens/{token}/": {"token": [n.id_token.token]},
        "/api/me/id-tokens/{id}/": {"id": [n.id_token.pk]},
        "/api/me/sessions/{id}/": {"id": [n.session.pk, n.active_session.pk]},
        "/api/billing/sessions/{transaction_id}/": {"transaction_id": [n.session.pk, n.active_session.pk]},
        "/api/billing/tariffs/{id}/": {"id": [n.tariff.pk, n.spare_tariff.pk]},
        "/api/billing/invoices/{id}/": {"id": [n.invoice.pk]},
        "/api/billing/dunning/{id}/": {"id": [n.payment.pk]},
        "/api/maintenance/jobs/{id}/": {"id": [n.job.pk], "station_id": [n.station.ocpp_id]},
        "/api/firmware/{id}/": {"id": [n.firmware.pk]},
        "/api/alerts/{id}/": {"id": [n.alert.pk]},
    }


def use_real_objects(case, values: dict[str, dict[str, list]]) -> None:
    """Swap the generated path parameters for existing objects in every other case (chosen by the case itself)."""
    if not case.path_parameters:
        return
    digest = zlib.crc32(repr(sorted(case.path_parameters.items())).encode())
    if digest % 2:
        return
    for prefix, names in values.items():
        if case.operation.path.startswith(prefix):
            for name, options in names.items():
                if name in case.path_parameters:
                    case.path_parameters[name] = options[digest // 2 % len(options)]


@schema.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_every_operation_answers_as_documented(case, network, operator_admin, driver, requests_keep_the_connection):
    use_real_objects(case, real_path_values(network))
    user = driver if case.operation.path.startswith(DRIVER_PATHS) else operator_admin
    headers = {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}
    case.call_and_validate(headers=headers, checks=CHECKS)
