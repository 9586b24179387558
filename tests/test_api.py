"""The REST API's OpenAPI schema, its browsable docs without a CDN, and its authentication."""

from rest_framework.authtoken.models import Token


def test_openapi_schema_is_served(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Voltgrid CSMS API"


def test_api_docs_load_their_assets_from_our_own_static_files(client, db):
    html = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()


def test_api_token_authenticates_and_a_wrong_one_is_refused(client, operator_admin):
    token = Token.objects.create(user=operator_admin)
    ok = client.get("/api/schema/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert ok.status_code == 200
    bad = client.get("/api/schema/", HTTP_AUTHORIZATION="Token not-a-token")
    assert bad.status_code == 401
