"""Bad input to the API gets a 4xx with a reason, never a 500: page bounds, NUL characters, malformed ids,
deleting what other records refer to. The lists come from the schema, so a new list is covered when it appears."""

import pytest
from rest_framework.test import APIClient

from billing.models import Tariff
from cms.api import LimitOffsetPagination
from stations.models import Station

pytestmark = pytest.mark.django_db
DRIVER_PATHS = ("/api/me/", "/api/billing/wallet/", "/api/billing/can-start/")


def paginated_lists(client: APIClient) -> list[str]:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    return [
        path.replace("{token}", "TAG-1").replace("{ocpp_id}", "CP-1")
        for path, operations in schema["paths"].items()
        if any(parameter["name"] == "limit" for parameter in operations.get("get", {}).get("parameters", []))
    ]


@pytest.fixture
def clients(network, admin_api, driver_api):
    return lambda path: driver_api if path.startswith(DRIVER_PATHS) else admin_api


def test_every_list_cuts_a_huge_limit_and_answers_a_huge_offset_with_an_empty_page(network, clients, admin_api):
    lists = paginated_lists(admin_api)
    assert "/api/me/sessions/" in lists and "/api/stations/" in lists and len(lists) >= 12
    for path in lists:
        client = clients(path)
        response = client.get(path, {"limit": "99999999999999999999"})
        assert response.status_code == 200, path
        assert len(response.json()["results"]) <= LimitOffsetPagination.max_limit
        response = client.get(path, {"offset": "99999999999999999999", "limit": "5"})
        assert (response.status_code, response.json()["results"]) == (200, []), path


@pytest.mark.parametrize(
    ("name", "value"),
    [("limit", "-1"), ("limit", "0"), ("limit", "abc"), ("limit", "1e3"), ("offset", "-5"), ("offset", "x")],
)
def test_a_limit_or_offset_that_is_not_a_whole_number_in_range_is_400_with_the_reason(
    network, clients, admin_api, name, value
):
    for path in paginated_lists(admin_api):
        response = clients(path).get(path, {name: value})
        assert response.status_code == 400, path
        assert "whole number" in response.json()[name][0]


@pytest.mark.parametrize(
    "path",
    [
        "/api/stations/?site=%00",
        "/api/id-tokens/?search=ab%00cd",
        "/api/commands/?station=%00&status=answered",
        "/api/alerts/?station=CP%001",
        "/api/me/sessions/?x%00=1",
        "/api/stations/CP%00-1/",
        "/api/billing/estimate/?station=%00&energy_kwh=1&minutes=1",
    ],
)
def test_a_nul_character_in_a_query_or_path_is_400_with_where_it_was(network, admin_api, path):
    response = admin_api.get(path)
    assert response.status_code == 400
    assert "NUL characters are not allowed" in response.json()["detail"]


def test_a_nul_character_in_a_json_or_form_body_is_400_and_changes_nothing(network, admin_api):
    commands = network.station.commands.count()
    response = admin_api.patch("/api/stations/CP-1/", {"name": "Yard\u0000"}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "NUL characters are not allowed (in the JSON body)."
    calls = admin_api.post(
        "/api/stations/CP-1/calls/", {"action": "Reset", "payload": {"type": "So\u0000ft"}}, format="json"
    )
    assert calls.status_code == 400
    form = admin_api.post("/api/id-tokens/", {"token": "NEW", "label": "a\x00b"}, format="multipart")
    assert form.status_code == 400
    assert Station.objects.get(ocpp_id="CP-1").name == ""
    assert network.station.commands.count() == commands


def test_a_backslash_u0000_that_is_only_text_passes(network, admin_api):
    response = admin_api.patch("/api/stations/CP-1/", {"name": "C:\\u0000"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "C:\\u0000"


@pytest.mark.parametrize(
    "path",
    [
        "/api/maintenance/jobs/abc/targets/ST-1/diagnostics/",
        "/api/maintenance/jobs/abc/",
        "/api/commands/abc/",
        "/api/commands/99999999999999999999/",
        "/api/billing/invoices/1.5/",
        "/api/me/sessions/-1/",
        "/api/no-such-endpoint/",
    ],
)
def test_a_malformed_or_unknown_id_is_404_in_json(network, admin_api, path):
    response = admin_api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]


def test_deleting_a_tariff_that_charges_refer_to_is_409_with_the_reason(network, admin_api):
    response = admin_api.delete(f"/api/billing/tariffs/{network.tariff.pk}/")
    assert response.status_code == 409
    assert response.json()["detail"] == "It cannot be deleted: other records refer to it (1 session charge)."
    assert Tariff.objects.filter(pk=network.tariff.pk).exists()
    assert admin_api.delete(f"/api/billing/tariffs/{network.spare_tariff.pk}/").status_code == 204


def test_the_schema_documents_the_errors_with_the_error_schema(admin_api):
    schema = admin_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    delete = schema["paths"]["/api/billing/tariffs/{id}/"]["delete"]["responses"]
    assert delete["409"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert {"400", "401", "403", "404"} <= set(schema["paths"]["/api/me/sessions/{id}/"]["get"]["responses"])
    station = schema["components"]["schemas"]["Station"]["properties"]
    assert station["ocpp_version"]["oneOf"][1]["$ref"].endswith("/BlankEnum")
    assert station["last_boot_at"]["nullable"] is True


def test_a_body_of_another_media_type_is_415_as_documented(admin_api):
    """A multipart body the parsers cannot read (schemathesis found one answered 415) is refused with a status the
    schema names for an operation that takes a body."""
    boundary = "704978aed5c4c42dd0fc4b3b474597ee"
    body = f"--{boundary}\r\n\u00cb\u00c1h\u00d0\u00f1\u00ab2--{boundary}--\r\n".encode()
    response = admin_api.generic(
        "POST", "/api/stations/", body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code in (400, 415)  # by how far the parsers get; both are documented
    assert response.json()  # what is wrong, in JSON
    schema = admin_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert "415" in schema["paths"]["/api/stations/"]["post"]["responses"]
    assert "415" not in schema["paths"]["/api/stations/"]["get"]["responses"]


@pytest.mark.parametrize("page", ["99999999999999999999", "-1", "abc", "0"])
def test_portal_lists_answer_any_page_number_with_a_page(network, client, operator_admin, page):
    client.force_login(operator_admin)
    for path in (
        "/operator/alerts/",
        "/operator/maintenance/",
        "/operator/stations/CP-1/messages/",
        "/operator/authorizations/",
        "/billing/operator/invoices/",
        "/billing/operator/dunning/",
        "/me/sessions/",
        "/me/cards/",
    ):
        assert client.get(path, {"page": page}).status_code == 200, path
