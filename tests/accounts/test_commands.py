"""`manage.py create_idtoken` and `manage.py api_token`: provisioning from scripts."""

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from accounts.models import IdToken

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_idtoken_with_every_option(alice, make_token):
    make_token("FLEET")
    out = run(
        "create_idtoken",
        "card-1",
        "--expiry",
        "2027-12-31",
        "--blocked",
        "--parent",
        "fleet",
        "--owner",
        "ALICE@example.com",
        "--type",
        "KeyCode",
        "--label",
        "Van 7",
    )
    card = IdToken.objects.get(token="CARD-1")
    assert (card.status, card.parent.token, card.owner, card.type, card.label) == (
        "Blocked",
        "FLEET",
        alice,
        "KeyCode",
        "Van 7",
    )
    assert card.expires_at == datetime(2028, 1, 1, tzinfo=UTC)
    assert out.startswith("Created ID token CARD-1: Blocked")
    assert card.events.get().source == "command"


def test_create_idtoken_again_updates_only_what_is_given():
    run("create_idtoken", "CARD-1", "--label", "Kept", "--blocked")
    out = run("create_idtoken", "CARD-1", "--accepted")
    card = IdToken.objects.get(token="CARD-1")
    assert (card.status, card.label) == ("Accepted", "Kept")
    assert out.startswith("Updated ID token CARD-1: Accepted")
    assert IdToken.objects.count() == 1


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--parent", "NOPE"], "There is no ID token NOPE to be the group"),
        (["--owner", "ghost@example.com"], "There is no user with the e-mail address ghost@example.com"),
        (["--expiry", "next week"], "is not a date"),
        (["--blocked", "--accepted"], "contradict"),
    ],
)
def test_create_idtoken_refuses_bad_options_and_creates_nothing(args, error):
    with pytest.raises(CommandError, match=error):
        run("create_idtoken", "CARD-1", *args)
    assert not IdToken.objects.exists()


def test_create_idtoken_refuses_a_malformed_token():
    with pytest.raises(CommandError, match="token: Use 1 to 36 letters"):
        run("create_idtoken", "has space")


def test_api_token_prints_a_working_key_and_revoke_removes_it(client, operator_admin):
    key = run("api_token", "admin@example.com").strip()
    assert client.get("/api/id-tokens/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    assert "Revoked the API token" in run("api_token", "admin@example.com", "--revoke")
    assert client.get("/api/id-tokens/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
    assert not Token.objects.exists()
    with pytest.raises(CommandError, match="no user"):
        run("api_token", "ghost@example.com")
