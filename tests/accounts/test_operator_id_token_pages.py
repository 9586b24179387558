"""The operator's ID token pages (list, issue, block/unblock, claims) and claiming a known card with a proof."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import IdToken, IdTokenClaim, IdTokenEvent
from accounts.roles import Role
from accounts.services import ClaimPending, id_token_claim, id_token_set_activation_code, id_tokens_import
from accounts.token_formats import clean_token_number

LIST = reverse("accounts:operator_id_tokens")
ISSUE = reverse("accounts:operator_id_token_issue")


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff[Role.OPERATOR_ADMIN])
    return client


def _rows(html: str) -> list[str]:
    return re.findall(r'data-label="Token"><a [^>]*>([^<]+)</a>', html)


def test_the_list_searches_and_filters_by_status_type_driver_and_group(admin_client, make_token, alice, bob):
    fleet = make_token("FLEET")
    make_token("04A1B2C3", owner=alice, parent=fleet, label="Work car")
    make_token("04D1E2F3", owner=bob, status=IdToken.Status.BLOCKED)
    make_token("E004015012345678", type=IdToken.Type.ISO15693)
    assert set(_rows(admin_client.get(LIST).content.decode())) == {"FLEET", "04A1B2C3", "04D1E2F3", "E004015012345678"}
    assert _rows(admin_client.get(LIST, {"status": "Blocked"}).content.decode()) == ["04D1E2F3"]
    assert _rows(admin_client.get(LIST, {"type": "ISO15693"}).content.decode()) == ["E004015012345678"]
    assert _rows(admin_client.get(LIST, {"driver": "alice@"}).content.decode()) == ["04A1B2C3"]
    assert _rows(admin_client.get(LIST, {"group": "fleet"}).content.decode()) == ["04A1B2C3"]
    assert _rows(admin_client.get(LIST, {"q": "work"}).content.decode()) == ["04A1B2C3"]
    html = admin_client.get(LIST).content.decode()
    for page in (ISSUE, reverse("accounts:id_token_import"), reverse("accounts:id_token_history", args=[fleet.pk])):
        assert page in html


def test_a_bad_filter_is_a_form_message_not_an_error(admin_client):
    response = admin_client.get(LIST, {"status": "Lost", "type": "<script>"})
    assert response.status_code == 400
    assert "Please check the filters" in response.content.decode()


def test_every_staff_role_reads_but_only_operator_admins_issue_block_and_decide(client, staff, alice, make_token):
    card = make_token("04A1B2C3")
    for role in (Role.TECHNICIAN, Role.FINANCE, Role.ANALYST):
        client.force_login(staff[role])
        assert client.get(LIST).status_code == 200
        assert client.get(ISSUE).status_code == 403
        assert client.post(ISSUE, {"token": "04AABBCC", "type": "ISO14443"}).status_code == 403
        status_url = reverse("accounts:operator_id_token_status", args=[card.pk])
        assert client.post(status_url, {"action": "block"}).status_code == 403
    client.force_login(alice)
    assert client.get(LIST).status_code == 403
    client.logout()
    assert client.get(LIST).status_code == 302
    card.refresh_from_db()
    assert card.status == IdToken.Status.ACCEPTED and not IdToken.objects.filter(token="04AABBCC").exists()


def test_an_operator_issues_a_card_to_a_driver(admin_client, alice):
    response = admin_client.post(
        ISSUE, {"token": "04:a1:b2:c3", "type": "ISO14443", "driver": "ALICE@example.com", "label": "Fleet 7"}
    )
    assert response.status_code == 200
    card = IdToken.objects.get(token="04A1B2C3")
    assert (card.owner, card.label, card.activation_code) == (alice, "Fleet 7", "")
    assert card.events.get(kind="created").source == IdTokenEvent.Source.OPERATOR


def test_an_unassigned_card_gets_an_activation_code_shown_once_and_a_driver_adds_it_with_it(admin_client, alice):
    response = admin_client.post(ISSUE, {"token": "04A1B2C3", "type": "ISO14443", "activation_code": "on"})
    code = re.search(r'class="activation-code">([A-Z0-9]+)<', response.content.decode()).group(1)
    card = IdToken.objects.get(token="04A1B2C3")
    assert card.owner is None and card.activation_code and code not in card.activation_code
    with pytest.raises(Exception, match="activation code"):
        id_token_claim(user=alice, number="04a1b2c3")
    with pytest.raises(Exception, match="does not match"):
        id_token_claim(user=alice, number="04a1b2c3", code="WRONG123")
    assert id_token_claim(user=alice, number="04 a1 b2 c3", code=code.lower()).owner == alice


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"token": "04A1B2C", "type": "ISO14443"}, "8, 14 or 20 hexadecimal digits"),
        ({"token": "E00401501234567Z", "type": "ISO15693"}, "16 hexadecimal digits"),
        ({"token": "DE8EOCAB", "type": "eMAID"}, "An eMAID is a country code"),
        ({"token": "04A1B2C3", "type": "ISO14443", "driver": "nobody@example.com"}, "No active account"),
        ({"token": "04A1B2C3", "type": "ISO14443", "group": "NOPE"}, "no token with this number"),
        ({"token": "04A1B2C3", "type": "Bogus"}, "Select a valid choice"),
        ({"token": "", "type": "ISO14443"}, "This field is required"),
        ({"token": "04A1B2C3", "type": "ISO14443", "expires_at": "soon"}, "Enter a valid date/time"),
    ],
)
def test_bad_input_when_issuing_is_a_form_message(admin_client, fields, message):
    response = admin_client.post(ISSUE, fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not IdToken.objects.filter(token="04A1B2C3").exists()


def test_issuing_a_number_that_exists_says_so(admin_client, make_token):
    make_token("04A1B2C3")
    response = admin_client.post(ISSUE, {"token": "04A1B2C3", "type": "ISO14443"})
    assert response.status_code == 400 and "exists already" in response.content.decode()


def test_an_operator_blocks_and_unblocks_a_card(admin_client, make_token):
    card = make_token("04A1B2C3")
    url = reverse("accounts:operator_id_token_status", args=[card.pk])
    assert admin_client.get(url).status_code == 405
    assert "is blocked" in admin_client.post(url, {"action": "block"}, follow=True).content.decode()
    card.refresh_from_db()
    assert card.status == IdToken.Status.BLOCKED
    assert "may charge again" in admin_client.post(url, {"action": "unblock"}, follow=True).content.decode()
    card.refresh_from_db()
    assert card.status == IdToken.Status.ACCEPTED
    assert [event.status for event in card.events.filter(kind="changed").order_by("id")] == ["Blocked", "Accepted"]


def test_a_known_card_without_a_code_waits_for_the_operators_approval(admin_client, alice, bob, make_token):
    card = make_token("04A1B2C3", label="Seen at CP-1")
    driver_client = Client()
    driver_client.force_login(alice)
    response = driver_client.post(reverse("accounts:id_tokens"), {"token": "04a1b2c3", "label": "Mine"}, follow=True)
    assert "added to your account once our staff" in response.content.decode()
    assert "Waiting for approval" in response.content.decode()
    card.refresh_from_db()
    assert card.owner is None
    claim = IdTokenClaim.objects.get(id_token=card, user=alice, status=IdTokenClaim.Status.PENDING)
    with pytest.raises(ClaimPending):  # asking again does not make a second claim
        id_token_claim(user=alice, number="04A1B2C3")
    assert IdTokenClaim.objects.count() == 1

    page = admin_client.get(reverse("accounts:id_token_history", args=[card.pk])).content.decode()
    assert "alice@example.com" in page and "Approve" in page
    decide = reverse("accounts:operator_claim_decide", args=[claim.pk])
    assert (
        "is now on the account of alice"
        in admin_client.post(decide, {"action": "approve"}, follow=True).content.decode()
    )
    card.refresh_from_db()
    assert card.owner == alice and card.label == "Seen at CP-1"
    response = admin_client.post(decide, {"action": "approve"}, follow=True)
    assert "decided already" in response.content.decode()


def test_a_rejected_claim_leaves_the_card_unassigned(admin_client, alice, make_token):
    card = make_token("04A1B2C3")
    with pytest.raises(ClaimPending) as pending:
        id_token_claim(user=alice, number="04A1B2C3")
    admin_client.post(reverse("accounts:operator_claim_decide", args=[pending.value.claim.pk]), {"action": "reject"})
    card.refresh_from_db()
    assert card.owner is None
    assert IdTokenClaim.objects.get().status == IdTokenClaim.Status.REJECTED


def test_a_driver_cannot_decide_claims(client, alice, make_token):
    make_token("04A1B2C3")
    with pytest.raises(ClaimPending) as pending:
        id_token_claim(user=alice, number="04A1B2C3")
    client.force_login(alice)
    response = client.post(
        reverse("accounts:operator_claim_decide", args=[pending.value.claim.pk]), {"action": "approve"}
    )
    assert response.status_code == 403
    assert IdToken.objects.get(token="04A1B2C3").owner is None


def test_an_imported_activation_code_is_kept_hashed_and_proves_the_card(alice):
    result = id_tokens_import(text="token,activation_code\n04A1B2C3,K7Q2-M9XP\n", actor=None)
    assert result.errors == [] and result.created == 1
    card = IdToken.objects.get(token="04A1B2C3")
    assert card.activation_code and "K7Q2" not in card.activation_code
    assert id_token_claim(user=alice, number="04A1B2C3", code="k7q2m9xp").owner == alice
    bad = id_tokens_import(text="token,activation_code\n04A1B2C4,ab\n", actor=None)
    assert bad.errors == ["line 2: activation_code must be 4 to 32 letters and digits"]


@pytest.mark.parametrize(
    ("number", "token_type", "stored"),
    [
        ("04 a1 b2 c3", "ISO14443", "04A1B2C3"),
        ("04:A1:B2:C3:D4:E5:F6", "ISO14443", "04A1B2C3D4E5F6"),
        ("04A1B2C3D4E5F60718293A", "ISO14443", None),  # 22 digits
        ("04A1B2C3D4E5F6071829", "ISO14443", "04A1B2C3D4E5F6071829"),
        ("E004015012345678", "ISO15693", "E004015012345678"),
        ("E0040150123456", "ISO15693", None),
        ("DE-8EO-CAB123456-7", "eMAID", "DE-8EO-CAB123456-7"),
        ("DE8EOCAB123456", "eMAID", "DE8EOCAB123456"),
        ("D1-8EO-CAB123456", "eMAID", None),
        ("00:1a:2b:3c:4d:5e", "MacAddress", "00:1A:2B:3C:4D:5E"),
        ("00:1a:2b:3c:4d", "MacAddress", None),
        ("ANY-APP-ID", "Central", "ANY-APP-ID"),
    ],
)
def test_card_numbers_are_checked_for_their_types_format(number, token_type, stored):
    if stored is None:
        with pytest.raises(Exception):  # noqa: B017 - a ValidationError with the type's message
            clean_token_number(number, token_type)
    else:
        assert clean_token_number(number, token_type) == stored


def test_a_driver_adding_a_mistyped_card_gets_the_types_format(client, alice):
    client.force_login(alice)
    response = client.post(reverse("accounts:id_tokens"), {"token": "04A1B2C", "type": "ISO14443"})
    assert response.status_code == 400
    assert "8, 14 or 20 hexadecimal digits" in response.content.decode()
    response = client.post(reverse("accounts:id_tokens"), {"token": "E004015012345678", "type": "ISO15693"})
    assert response.status_code == 302
    assert IdToken.objects.get(token="E004015012345678").type == "ISO15693"


def test_setting_a_code_is_in_the_history_without_the_code(make_token):
    card = make_token("04A1B2C3")
    code = id_token_set_activation_code(id_token=card, source=IdTokenEvent.Source.OPERATOR)
    event = card.events.get(changes__has_key="activation_code")
    assert code not in str(event.changes)
