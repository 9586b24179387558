"""id_token_authorize: every outcome a station can be answered, and the history it leaves."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import IdToken, IdTokenEvent
from accounts.services import id_token_authorize, id_token_update
from stations.models import Site

Status = IdToken.Status
pytestmark = pytest.mark.django_db


def test_unknown_token_is_invalid_and_is_logged_without_a_token(make_station):
    station = make_station("CP-1")
    result = id_token_authorize(token="never-issued", station=station)
    assert (result.status, result.reason, result.id_token) == (Status.INVALID, "unknown", None)
    assert not result.accepted
    event = IdTokenEvent.objects.get(kind=IdTokenEvent.Kind.AUTHORIZATION)
    assert (event.token, event.id_token, event.status, event.station) == ("NEVER-ISSUED", None, "Invalid", station)


def test_accepted_token_answers_with_expiry_and_group(make_token):
    expiry = timezone.now() + timedelta(days=30)
    group = make_token("FLEET")
    make_token("CARD-1", expires_at=expiry, parent=group)
    result = id_token_authorize(token="CARD-1")
    assert result.accepted
    assert (result.status, result.expires_at, result.parent_id, result.id_token.token) == (
        "Accepted",
        expiry,
        "FLEET",
        "CARD-1",
    )


def test_lookup_ignores_case_and_surrounding_spaces(make_token):
    make_token("04a2b3c4")
    assert id_token_authorize(token="  04A2b3C4 ").accepted


@pytest.mark.parametrize("status", [Status.BLOCKED, Status.EXPIRED, Status.INVALID])
def test_a_token_that_is_not_accepted_is_refused_with_its_status(make_token, status):
    make_token("CARD-1", status=status)
    result = id_token_authorize(token="CARD-1")
    assert (result.status, result.reason) == (status, f"token_{status.lower()}")


def test_an_accepted_token_past_its_expiry_is_expired(make_token):
    make_token("CARD-1", expires_at=timezone.now() - timedelta(seconds=1))
    assert id_token_authorize(token="CARD-1").status == Status.EXPIRED


@pytest.mark.parametrize(
    ("group_fields", "status", "reason"),
    [
        ({"status": Status.BLOCKED}, Status.BLOCKED, "group_blocked"),
        ({"status": Status.EXPIRED}, Status.EXPIRED, "group_expired"),
        ({"status": Status.INVALID}, Status.INVALID, "group_invalid"),
        ({"expires_at": timezone.now() - timedelta(minutes=1)}, Status.EXPIRED, "group_expired"),
    ],
)
def test_a_token_of_a_refused_group_is_refused(make_token, group_fields, status, reason):
    group = make_token("FLEET", **group_fields)
    make_token("CARD-1", parent=group)
    result = id_token_authorize(token="CARD-1")
    assert (result.status, result.reason, result.parent_id) == (status, reason, "FLEET")


def test_the_group_of_a_group_counts_too(make_token):
    company = make_token("COMPANY", status=Status.BLOCKED)
    depot = make_token("DEPOT", parent=company)
    make_token("CARD-1", parent=depot)
    assert id_token_authorize(token="CARD-1").status == Status.BLOCKED


def test_the_answered_expiry_is_the_earliest_of_token_and_groups(make_token):
    soon, later = timezone.now() + timedelta(days=1), timezone.now() + timedelta(days=90)
    group = make_token("FLEET", expires_at=soon)
    make_token("CARD-1", parent=group, expires_at=later)
    assert id_token_authorize(token="CARD-1").expires_at == soon


def test_unblocking_the_group_lets_its_members_charge_again(make_token):
    group = make_token("FLEET", status=Status.BLOCKED)
    make_token("CARD-1", parent=group)
    assert id_token_authorize(token="CARD-1").status == Status.BLOCKED
    id_token_update(id_token=group, data={"status": Status.ACCEPTED}, source="admin")
    assert id_token_authorize(token="CARD-1").accepted


def test_a_token_with_a_session_in_progress_gets_concurrent_tx_for_a_start(make_token, make_station, make_transaction):
    station = make_station("CP-1")
    card = make_token("CARD-1")
    make_transaction(station, id_token=card, active=True)
    result = id_token_authorize(token="CARD-1", station=station, for_start=True)
    assert (result.status, result.reason) == ("ConcurrentTx", "concurrent_tx")
    # Outside a start (an Authorize to stop, say) the token is fine.
    assert id_token_authorize(token="CARD-1", station=station).accepted


def test_finished_sessions_do_not_block_a_new_start(make_token, make_station, make_transaction):
    station = make_station("CP-1")
    card = make_token("CARD-1")
    make_transaction(station, id_token=card, active=False)
    assert id_token_authorize(token="CARD-1", station=station, for_start=True).accepted


def test_a_blocked_token_with_a_session_in_progress_is_answered_blocked(make_token, make_station, make_transaction):
    station = make_station("CP-1")
    card = make_token("CARD-1", status=Status.BLOCKED)
    make_transaction(station, id_token=card, active=True)
    assert id_token_authorize(token="CARD-1", station=station, for_start=True).status == Status.BLOCKED


def test_a_token_allowed_at_some_stations_is_invalid_at_others(make_token, make_station):
    depot, street = make_station("CP-DEPOT"), make_station("CP-STREET")
    make_token("CARD-1", allowed_stations=[depot])
    assert id_token_authorize(token="CARD-1", station=depot).accepted
    refused = id_token_authorize(token="CARD-1", station=street)
    assert (refused.status, refused.reason) == (Status.INVALID, "not_at_this_location")


def test_a_token_allowed_at_a_site_is_accepted_at_its_stations_only(make_token, make_station):
    site = Site.objects.create(name="Depot North")
    inside, outside, no_site = make_station("CP-A", site=site), make_station("CP-B"), make_station("CP-C")
    make_token("CARD-1", allowed_sites=[site])
    assert id_token_authorize(token="CARD-1", station=inside).accepted
    assert id_token_authorize(token="CARD-1", station=outside).status == Status.INVALID
    assert id_token_authorize(token="CARD-1", station=no_site).status == Status.INVALID


def test_station_or_site_either_lets_the_token_in(make_token, make_station):
    site = Site.objects.create(name="Depot North")
    in_site, listed = make_station("CP-A", site=site), make_station("CP-B")
    make_token("CARD-1", allowed_sites=[site], allowed_stations=[listed])
    assert id_token_authorize(token="CARD-1", station=in_site).accepted
    assert id_token_authorize(token="CARD-1", station=listed).accepted


def test_a_groups_allow_list_binds_its_members(make_token, make_station):
    depot, street = make_station("CP-DEPOT"), make_station("CP-STREET")
    group = make_token("FLEET", allowed_stations=[depot])
    make_token("CARD-1", parent=group)
    assert id_token_authorize(token="CARD-1", station=depot).accepted
    assert id_token_authorize(token="CARD-1", station=street).status == Status.INVALID


def test_each_answer_is_kept_in_the_tokens_history(make_token, make_station):
    station = make_station("CP-1")
    card = make_token("CARD-1")
    id_token_authorize(token="CARD-1", station=station)
    id_token_update(id_token=card, data={"status": Status.BLOCKED}, source="admin")
    id_token_authorize(token="card-1", station=station)
    outcomes = list(
        card.events.filter(kind=IdTokenEvent.Kind.AUTHORIZATION).order_by("id").values_list("status", "note", "station")
    )
    assert outcomes == [("Accepted", "", station.pk), ("Blocked", "token_blocked", station.pk)]


def test_authorizing_takes_a_bounded_number_of_queries(make_token, make_station, django_assert_max_num_queries):
    site = Site.objects.create(name="Depot North")
    station = make_station("CP-1", site=site)
    company = make_token("COMPANY")
    group = make_token("FLEET", parent=company, allowed_sites=[site])
    make_token("CARD-1", parent=group)
    # token with its group, the group above, both allow lists, the session check, the history row
    with django_assert_max_num_queries(6):
        assert id_token_authorize(token="CARD-1", station=station, for_start=True).accepted
