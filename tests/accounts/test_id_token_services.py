"""Token changes through the services: validation, the history they leave, local list versions, drivers' claims."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts import services as accounts_services
from accounts.models import IdToken, IdTokenEvent
from accounts.roles import Role
from accounts.selectors import local_list_entries, local_list_version
from accounts.services import (
    api_token_issue,
    api_token_revoke,
    id_token_claim,
    id_token_create,
    id_token_update,
    id_tokens_delete,
    user_sync_staff_status,
)

Status = IdToken.Status
pytestmark = pytest.mark.django_db


def version() -> int:
    return local_list_version().version


def test_creating_a_token_stores_it_upper_case_and_records_who_did_it(alice):
    card = id_token_create(token=" ab12cd ", data={"label": "Van 3"}, actor=alice, source="admin")
    assert card.token == "AB12CD"
    event = card.events.get()
    assert (event.kind, event.status, event.actor, event.source) == ("created", "Accepted", alice, "admin")
    assert event.changes["label"] == [None, "Van 3"]


@pytest.mark.parametrize("bad", ["", "with space", "x" * 37, "ÄÖÜ"])
def test_a_malformed_token_is_refused(bad):
    with pytest.raises(ValidationError) as excinfo:
        id_token_create(token=bad, source="api")
    assert "token" in excinfo.value.message_dict
    assert not IdToken.objects.exists()


def test_a_token_number_exists_once_whatever_its_case(make_token):
    make_token("CARD-1")
    with pytest.raises(ValidationError):
        id_token_create(token="card-1", source="api")
    assert IdToken.objects.count() == 1


def test_an_update_records_old_and_new_values(make_token, alice):
    card = make_token("CARD-1")
    expiry = timezone.now() + timedelta(days=7)
    id_token_update(id_token=card, data={"status": Status.BLOCKED, "expires_at": expiry}, actor=alice, source="api")
    event = card.events.filter(kind="changed").get()
    assert event.status == "Blocked"
    assert event.changes == {"status": ["Accepted", "Blocked"], "expires_at": [None, expiry.isoformat()]}


def test_an_update_that_changes_nothing_records_nothing(make_token):
    card = make_token("CARD-1", label="Van")
    before = version()
    id_token_update(id_token=card, data={"label": "Van", "status": Status.ACCEPTED}, source="api")
    assert card.events.count() == 1
    assert version() == before


def test_a_token_cannot_be_its_own_group_even_through_another(make_token):
    first = make_token("FIRST")
    second = make_token("SECOND", parent=first)
    with pytest.raises(ValidationError) as excinfo:
        id_token_update(id_token=first, data={"parent": second}, source="admin")
    assert "parent" in excinfo.value.message_dict
    with pytest.raises(ValidationError):
        id_token_update(id_token=first, data={"parent": first}, source="admin")
    first.refresh_from_db()
    assert first.parent is None


def test_changes_that_reach_stations_advance_the_local_list_version(make_token):
    group = make_token("FLEET")
    member = make_token("CARD-1", parent=group)
    grandchild = make_token("CARD-2", parent=member)
    other = make_token("OTHER")
    before = version()
    id_token_update(id_token=group, data={"label": "only a name"}, source="admin")
    assert version() == before  # a label is not on a station's list
    id_token_update(id_token=group, data={"status": Status.BLOCKED}, source="admin")
    assert version() == before + 1
    for token in (group, member, grandchild, other):
        token.refresh_from_db()
    # The members' answers changed with their group's: a differential update must carry them too.
    assert group.list_version == member.list_version == grandchild.list_version == before + 1
    assert other.list_version < before + 1


def test_deleting_tokens_asks_for_a_full_list_and_keeps_their_history(make_token, alice):
    card = make_token("CARD-1")
    id_tokens_delete(id_tokens=[card], actor=alice, source="admin")
    assert not IdToken.objects.filter(token="CARD-1").exists()
    assert local_list_version().full_update_from == version()
    kinds = list(IdTokenEvent.objects.filter(token="CARD-1").values_list("kind", flat=True).order_by("id"))
    assert kinds == ["created", "deleted"]


def test_local_list_entries_answer_as_the_station_would_be_answered(make_token, make_station):
    depot, street = make_station("CP-DEPOT"), make_station("CP-STREET")
    group = make_token("FLEET", expires_at=timezone.now() + timedelta(days=5))
    make_token("CARD-1", parent=group)
    make_token("DEPOT-ONLY", allowed_stations=[depot])
    make_token("LOST", status=Status.BLOCKED)
    at_street = {entry.token: entry for entry in local_list_entries(station=street)}
    assert at_street["CARD-1"].status == "Accepted"
    assert at_street["CARD-1"].parent_id == "FLEET"
    assert at_street["CARD-1"].expires_at == group.expires_at
    assert at_street["DEPOT-ONLY"].status == "Invalid"
    assert at_street["LOST"].status == "Blocked"
    assert {entry.token: entry.status for entry in local_list_entries(station=depot)}["DEPOT-ONLY"] == "Accepted"


def test_a_differential_list_holds_only_what_changed_since_a_version(make_token, make_station):
    station = make_station("CP-1")
    make_token("OLD")
    sent = version()
    make_token("NEW")
    assert [entry.token for entry in local_list_entries(station=station, since_version=sent)] == ["NEW"]


def test_a_driver_adds_a_new_card_by_its_printed_number(alice):
    card = id_token_claim(user=alice, number="04 a2 b3 c4", label="My card")
    assert (card.token, card.owner, card.label, card.status) == ("04A2B3C4", alice, "My card", "Accepted")
    assert card.events.get().source == "portal"


def test_a_driver_claims_an_issued_card_nobody_owns_and_it_keeps_its_settings(make_token, alice):
    group = make_token("FLEET")
    issued = make_token("ISSUED-1", parent=group, expires_at=timezone.now() + timedelta(days=365))
    code = accounts_services.id_token_set_activation_code(id_token=issued, source="command")
    card = id_token_claim(user=alice, number="issued-1", code=code)
    assert card.owner == alice
    assert card.parent == group
    assert card.events.get(changes__has_key="owner").changes["owner"] == [None, "alice@example.com"]


def test_a_card_of_another_driver_is_refused_with_a_clear_message(make_token, alice, bob):
    make_token("CARD-1", owner=bob)
    with pytest.raises(ValidationError) as excinfo:
        id_token_claim(user=alice, number="card-1")
    assert excinfo.value.message_dict["token"] == [
        "This card is registered to another account. If it is yours, please contact support."
    ]
    assert IdToken.objects.get(token="CARD-1").owner == bob


def test_adding_ones_own_card_again_says_so(make_token, alice):
    make_token("CARD-1", owner=alice)
    with pytest.raises(ValidationError, match="already on your account"):
        id_token_claim(user=alice, number="CARD-1")


def test_a_number_that_cannot_be_a_card_is_refused(alice):
    with pytest.raises(ValidationError, match="Enter the number printed on the card"):
        id_token_claim(user=alice, number="   ")
    assert not IdToken.objects.exists()


def test_a_staff_role_makes_a_user_staff(make_user):
    user = make_user("tech@example.com")
    assert user_sync_staff_status(user=user) is False
    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.get(name=Role.TECHNICIAN.value))
    assert user_sync_staff_status(user=user) is True
    user.refresh_from_db()
    assert user.is_staff


def test_issuing_an_api_token_replaces_the_old_one_and_revoking_removes_it(operator_admin):
    first = api_token_issue(user=operator_admin)
    second = api_token_issue(user=operator_admin)
    assert first.key != second.key
    assert list(Token.objects.filter(user=operator_admin).values_list("key", flat=True)) == [second.key]
    assert api_token_revoke(user=operator_admin) is True
    assert api_token_revoke(user=operator_admin) is False
    assert not Token.objects.exists()
