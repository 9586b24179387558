"""The README's "Staff roles and access" table, enforced: role x API endpoint or operator page → status.

Every API endpoint and every operator page is a row. Each role runs the whole table once against a fresh network
(reads first, then writes, so a write a role may make does not change what the next row finds). A write a role
may not make is refused before it changes anything. Anonymous callers get 401 from the API and the login page
from the portal. Drivers reach their own things only: another's invoice or session is 404, a staff page 403.
"""

import json
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.roles import Role

pytestmark = pytest.mark.django_db

A, T, F, N, D = "operator_admin", "technician", "finance", "analyst", "driver"
STAFF = (A, T, F, N)
EVERYONE = (*STAFF, D)


def may(status: int, *roles: str, **others: int) -> dict[str, int]:
    """``roles`` get ``status``; a role named in ``others`` gets its own; everyone else 403."""
    expected = dict.fromkeys(EVERYONE, 403)
    expected.update(dict.fromkeys(roles, status))
    expected.update(others)
    return expected


@dataclass
class Row:
    method: str
    path: str  # formatted with the network's ids
    expect: dict[str, int]
    data: dict = field(default_factory=dict)
    multipart: bool = False


STATION_PASSWORD = "a-long-station-pass"
READS = [
    # Stations and their commands: technicians run them, finance and analysts read stations, analysts commands too.
    Row("GET", "/api/stations/", may(200, *STAFF)),
    Row("GET", "/api/stations/{station}/", may(200, *STAFF)),
    Row("GET", "/api/stations/{station}/calls/", may(200, A, T, N)),
    Row("GET", "/api/commands/", may(200, A, T, N)),
    Row("GET", "/api/commands/{command}/", may(200, A, T, N)),
    # ID tokens: operator admins write, every staff role reads.
    Row("GET", "/api/id-tokens/", may(200, *STAFF)),
    Row("GET", "/api/id-tokens/{token}/", may(200, *STAFF)),
    Row("GET", "/api/id-tokens/{token}/events/", may(200, *STAFF)),
    # Maintenance, firmware and alerts: technicians; analysts read; finance nothing.
    Row("GET", "/api/maintenance/jobs/", may(200, A, T, N)),
    Row("GET", "/api/maintenance/jobs/{job}/", may(200, A, T, N)),
    Row("GET", "/api/maintenance/jobs/{job}/targets/{station}/diagnostics/", may(404, A, T)),
    Row("GET", "/api/firmware/", may(200, A, T, N)),
    Row("GET", "/api/firmware/{firmware}/", may(200, A, T, N)),
    Row("GET", "/api/alerts/", may(200, A, T, N)),
    Row("GET", "/api/alerts/{alert}/", may(200, A, T, N)),
    # Billing: finance runs it, analysts read it, technicians see no money; a driver sees their own.
    Row("GET", "/api/billing/tariffs/", may(200, A, F, N)),
    Row("GET", "/api/billing/tariffs/{tariff}/", may(200, A, F, N)),
    Row("GET", "/api/billing/invoices/", may(200, *EVERYONE)),  # all of them, or one's own: see the count test
    Row("GET", "/api/billing/invoices/{invoice}/", may(200, A, F, N, D, technician=404)),
    Row("GET", "/api/billing/invoices/{invoice}/pdf/", may(200, A, F, N, D, technician=404)),
    Row("GET", "/api/billing/dunning/", may(200, A, F, N)),
    Row("GET", "/api/billing/dunning/{payment}/", may(200, A, F, N)),
    Row("GET", "/api/billing/sessions/{session}/cost/", may(200, A, F, N, D, technician=404)),
    # Everyone's own: wallet, cards, sessions.
    Row("GET", "/api/billing/wallet/", may(200, *EVERYONE)),
    Row("GET", "/api/billing/can-start/", may(200, *EVERYONE)),
    Row("GET", "/api/billing/estimate/?station={station}&energy_kwh=10&minutes=60", may(200, *EVERYONE)),
    Row("GET", "/api/me/id-tokens/", may(200, *EVERYONE)),
    Row("GET", "/api/me/id-tokens/{my_card}/", may(404, *STAFF, driver=200)),
    Row("GET", "/api/me/sessions/", may(200, *EVERYONE)),
    Row("GET", "/api/me/sessions/{session}/", may(404, *STAFF, driver=200)),
    # Operator pages.
    Row("GET", "/operator/live/", may(200, *STAFF)),
    Row("GET", "/operator/live/rows/", may(200, *STAFF)),
    Row("GET", "/operator/stations/{station}/", may(200, *STAFF)),
    Row("GET", "/operator/stations/{station}/messages/", may(200, *STAFF)),
    Row("GET", "/operator/stations/{station}/device-model/", may(200, *STAFF)),
    Row("GET", "/operator/alerts/", may(200, A, T, N)),
    Row("GET", "/operator/alerts/{alert}/", may(200, A, T, N)),
    Row("GET", "/operator/stations/", may(200, *STAFF)),
    Row("GET", "/operator/new-station/", may(200, A, T)),
    Row("GET", "/operator/stations/{station}/edit/", may(200, A, T)),
    Row("GET", "/operator/stations/{station}/credentials/", may(200, A, T)),
    Row("GET", "/operator/sites/", may(200, *STAFF)),
    Row("GET", "/operator/sites/new/", may(200, A, T)),
    Row("GET", "/operator/sites/{site}/edit/", may(200, A, T)),
    Row("GET", "/operator/sessions/", may(200, *STAFF)),
    Row("GET", "/operator/sessions/{session}/", may(200, *STAFF)),
    Row("GET", "/operator/maintenance/", may(200, A, T, N)),
    Row("GET", "/operator/maintenance/new/", may(200, A, T)),
    Row("GET", "/operator/maintenance/{job}/", may(200, A, T, N)),
    Row("GET", "/operator/maintenance/{job}/status/", may(200, A, T, N)),
    Row("GET", "/operator/firmware/", may(200, A, T, N)),
    Row("GET", "/operator/qr/", may(200, A, T)),
    Row("GET", "/operator/qr/stations/{station}/", may(200, A, T)),
    Row("GET", "/operator/qr/sites/{site}/", may(200, A, T)),
    Row("GET", "/operator/authorizations/", may(200, *STAFF)),
    Row("GET", "/operator/id-tokens/{token_pk}/history/", may(200, *STAFF)),
    Row("GET", "/operator/id-tokens/import/", may(200, A)),
    Row("GET", "/billing/operator/invoices/", may(200, A, F, N)),
    Row("GET", "/billing/operator/dunning/", may(200, A, F, N)),
    Row("GET", "/billing/invoices/{invoice}/pdf/", may(200, A, F, N, D, technician=404)),
    Row("GET", "/analytics/usage/", may(200, *STAFF)),
    Row("GET", "/analytics/utilisation/", may(200, *STAFF)),
    Row("GET", "/analytics/reliability/", may(200, *STAFF)),
    Row("GET", "/analytics/energy/", may(200, *STAFF)),
    Row("GET", "/analytics/money/", may(200, A, F, N)),
    # Certificates (pki): a station's are read as the station is; the CA and all it issued by those who run or read
    # stations' commands. (The CA's certificate and CRL are public: tests/pki/test_lifecycle.py.)
    Row("GET", "/api/stations/{station}/certificates/", may(200, *STAFF)),
    Row("GET", "/api/pki/authority/", may(200, A, T, N)),
    Row("GET", "/api/pki/certificates/", may(200, A, T, N)),
    Row("GET", "/operator/stations/{station}/certificates/", may(200, *STAFF)),
]
NEEDS = "/api/me/sessions/{active_session}/charging-needs/"
WRITES = [
    # A driver's needs for their session in progress: theirs alone (a write, read back, then forgotten).
    Row("PUT", NEEDS, may(404, *STAFF, driver=200), {"departure_at": "{soon}"}),
    Row("GET", NEEDS, may(404, *STAFF, driver=200)),
    Row("DELETE", NEEDS, may(404, *STAFF, driver=204)),
    Row("POST", "/api/stations/", may(201, A, T), {"id": "CP-NEXT", "password": STATION_PASSWORD}),
    Row("PATCH", "/api/stations/{station}/", may(200, A, T), {"name": "Yard 2"}),
    # No station is connected: a command someone may send is answered 409 offline.
    Row("POST", "/api/stations/{station}/calls/", may(409, A, T), {"action": "Reset", "payload": {"type": "Soft"}}),
    Row("POST", "/api/stations/{station}/remote-start/", may(409, A, T), {"id_tag": "TAG-1"}),
    Row("POST", "/api/stations/{station}/remote-stop/", may(409, A, T), {"transaction_id": 1}),
    Row("POST", "/api/stations/{station}/reset/", may(409, A, T), {"type": "Soft"}),
    Row("POST", "/api/stations/{station}/unlock/", may(409, A, T), {"connector_id": 1}),
    Row("POST", "/api/stations/{station}/availability/", may(409, A, T), {"status": "Inoperative"}),
    Row("POST", "/api/stations/{station}/report/", may(409, A, T), {}),
    Row("GET", "/api/stations/{station}/variables/?variable=HeartbeatInterval", may(409, A, T)),
    Row("POST", "/api/stations/{station}/variables/", may(409, A, T), {"variables": [{"variable": "X", "value": "1"}]}),
    Row("POST", "/api/id-tokens/", may(201, A), {"token": "NEW-TAG"}),
    Row("PATCH", "/api/id-tokens/{token}/", may(200, A), {"label": "Renamed"}),
    Row(
        "POST",
        "/api/maintenance/jobs/",
        may(202, A, T),
        {"kind": "reset", "stations": ["{station}"], "params": {"type": "Soft"}},
    ),
    Row("POST", "/api/maintenance/jobs/{job}/cancel/", may(200, A, T)),
    Row(
        "POST",
        "/api/firmware/",
        may(201, A, T),
        {"name": "VG-22", "version": "2.2", "file": "firmware-bytes"},
        multipart=True,
    ),
    Row("DELETE", "/api/firmware/{firmware}/", may(204, A, T)),
    Row("POST", "/api/alerts/{alert}/acknowledge/", may(200, A, T), {"note": "On it"}),
    Row("POST", "/api/alerts/{alert}/resolve/", may(200, A, T), {"note": "Fixed"}),
    Row(
        "POST",
        "/api/billing/tariffs/",
        may(201, A, F),
        {
            "name": "Night",
            "currency": "EUR",
            "tax_rate": "19",
            "valid_from": "2025-01-01T00:00:00Z",
            "price_per_kwh": "0.30",
        },
    ),
    Row("PATCH", "/api/billing/tariffs/{tariff}/", may(200, A, F), {"price_per_kwh": "0.45"}),
    Row("DELETE", "/api/billing/tariffs/{spare_tariff}/", may(204, A, F)),
    Row("DELETE", "/api/billing/tariffs/{tariff}/", may(409, A, F)),  # charges refer to it
    Row("POST", "/api/me/id-tokens/{my_card}/block/", may(404, *STAFF, driver=200)),
    # Operator pages' forms.
    Row("POST", "/operator/stations/{station}/maintenance/", may(302, A, T), {"kind": "clear_cache"}),
    Row("POST", "/operator/stations/{station}/device-model/", may(302, A, T), {"action": "report"}),
    Row(
        "POST",
        "/operator/stations/{station}/edit/",
        may(302, A, T),
        {"name": "Yard 3", "registration_status": "Accepted"},
    ),
    Row("POST", "/operator/sites/new/", may(302, A, T), {"name": "Harbour", "timezone": "UTC"}),
    Row("POST", "/operator/alerts/{alert}/acknowledge/", may(302, A, T)),
    Row("POST", "/operator/maintenance/{job}/cancel/", may(302, A, T)),
    Row("POST", "/billing/operator/dunning/{payment}/", may(302, A, F), {"action": "settled"}),
    # Certificate commands (the station is offline: 409); revocation is the operator admin's alone.
    Row("POST", "/api/stations/{station}/certificates/installed/read/", may(409, A, T), {}),
    Row("POST", "/api/stations/{station}/certificates/install/", may(409, A, T), {}),
    Row(
        "POST",
        "/api/stations/{station}/certificates/delete/",
        may(409, A, T),
        {"hash_algorithm": "SHA256", "issuer_name_hash": "ab", "issuer_key_hash": "cd", "serial_number": "1f"},
    ),
    Row("POST", "/api/stations/{station}/certificates/renew/", may(409, A, T), {}),
    Row("POST", "/api/pki/certificates/0/revoke/", may(404, A), {}),  # no such certificate
    Row("POST", "/operator/stations/{station}/certificates/read/", may(302, A, T)),
]
ROWS = READS + WRITES


def ids(network) -> dict[str, object]:
    n = network
    return {
        "station": n.station.ocpp_id,
        "command": n.command.pk,
        "token": n.id_token.token,
        "token_pk": n.id_token.pk,
        "my_card": n.id_token.pk,
        "job": n.job.pk,
        "firmware": n.firmware.pk,
        "alert": n.alert.pk,
        "tariff": n.tariff.pk,
        "spare_tariff": n.spare_tariff.pk,
        "invoice": n.invoice.pk,
        "payment": n.payment.pk,
        "session": n.session.pk,
        "active_session": n.active_session.pk,
        "soon": (timezone.now() + timedelta(hours=2)).isoformat(),
        "site": n.station.site_id,
    }


def _fill(value, names):
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, list):
        return [_fill(item, names) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, names) for key, item in value.items()}
    return value


def call(client: APIClient, row: Row, names: dict) -> int:
    path, data = row.path.format(**names), _fill(row.data, names)
    if row.method == "GET":
        return client.get(path).status_code
    if row.multipart:
        data["file"] = SimpleUploadedFile("image.bin", data["file"].encode())
        return client.post(path, data, format="multipart").status_code
    if path.startswith("/api/"):
        return client.generic(row.method, path, json.dumps(data), content_type="application/json").status_code
    return client.post(path, data).status_code  # a portal form


@pytest.fixture
def caller(network, driver, make_staff):
    """A client for a role: a token for the API and a session for the portal, as a person would use them."""

    def make(role: str) -> APIClient:
        user = driver if role == D else make_staff(Role(role))
        client = APIClient()
        client.force_login(user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        return client

    return make


@pytest.mark.parametrize("role", EVERYONE)
def test_each_role_reaches_what_the_readme_says(role, caller, network):
    client, names = caller(role), ids(network)
    mismatches = [
        f"{row.method} {row.path}: {status}, expected {row.expect[role]}"
        for row in ROWS
        if (status := call(client, row, names)) != row.expect[role]
    ]
    assert mismatches == []


def test_anonymous_callers_get_401_from_the_api_and_the_login_page_from_the_portal(client, network):
    names = ids(network)
    api = APIClient()
    for row in ROWS:
        status = call(api, row, names)
        expected = 401 if row.path.startswith("/api/") else 302
        assert status == expected, f"{row.method} {row.path}: {status}"


@pytest.mark.parametrize(("role", "visible"), [(A, 1), (F, 1), (N, 1), (T, 0), (D, 1)])
def test_invoices_through_the_api_are_all_for_billing_readers_and_ones_own_for_others(role, visible, caller):
    assert caller(role).get("/api/billing/invoices/").json()["count"] == visible
