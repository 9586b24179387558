"""The simulated stations' charging-profile arithmetic (``simulator.profiles``), without a server: which profile
prevails, the limit a connector gets, and the composite schedule a station reports."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import profiles
from simulator.profiles import STATION_MAX, TX, TX_DEFAULT, Electrical, Period, Profile, Session

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday
THREE_PHASE = Electrical(voltage=230.0, phases=3, max_w=22_000.0)
SESSION = Session(transaction_id=7, started_at=T0 - timedelta(minutes=10))


def profile(purpose=TX_DEFAULT, limit=16.0, *, id=1, connector_id=1, stack_level=0, unit="A", kind="Absolute", **kw):
    fields = {"start_schedule": T0, "periods": (Period(0, limit),), **kw}
    return Profile(id, connector_id, purpose, stack_level, kind, unit, received_at=T0, **fields)


def limit(held, at=T0, session=SESSION, sharing=1, connector_id=1):
    return profiles.connector_limit_w(held, connector_id, at, session, THREE_PHASE, sharing=sharing)


def test_without_profiles_a_connector_may_draw_its_maximum():
    assert limit([]) == 22_000


def test_a_limit_in_amperes_is_per_phase_on_the_phases_the_connector_has():
    assert limit([profile(limit=16)]) == pytest.approx(16 * 230 * 3)
    assert limit([profile(periods=(Period(0, 16, phases=1),))]) == pytest.approx(16 * 230)
    single = Electrical(voltage=230.0, phases=1, max_w=7_400.0)
    assert profiles.connector_limit_w([profile(limit=16)], 1, T0, SESSION, single) == pytest.approx(16 * 230)


def test_the_highest_stack_level_with_a_running_period_prevails():
    low = profile(limit=20, id=1, stack_level=1)
    high = profile(limit=10, id=2, stack_level=5, duration=3600)
    assert limit([low, high]) == pytest.approx(10 * 690)
    # Once the higher profile's schedule has ended, the lower one applies again.
    assert limit([low, high], at=T0 + timedelta(hours=2)) == pytest.approx(20 * 690)


def test_a_tx_profile_overrides_the_default_only_for_its_own_transaction():
    default = profile(TX_DEFAULT, limit=6, id=1)
    tx = profile(TX, limit=25, id=2, kind="Relative", transaction_id=7, start_schedule=None)
    assert limit([default, tx]) == pytest.approx(25 * 690)
    other = Session(transaction_id=8, started_at=T0)
    assert limit([default, tx], session=other) == pytest.approx(6 * 690)
    assert limit([default, tx], session=None) == pytest.approx(6 * 690)


def test_a_default_on_the_connector_comes_before_one_for_the_whole_station():
    station_wide = profile(TX_DEFAULT, limit=10, id=1, connector_id=0, stack_level=9)
    own = profile(TX_DEFAULT, limit=20, id=2, connector_id=1, stack_level=0)
    assert limit([station_wide, own]) == pytest.approx(20 * 690)
    assert limit([station_wide, own], connector_id=2) == pytest.approx(10 * 690)


def test_the_station_maximum_is_shared_by_the_connectors_charging():
    station_max = profile(STATION_MAX, limit=11_000, unit="W", connector_id=0)
    assert limit([station_max]) == 11_000
    assert limit([station_max], sharing=2) == 5_500


def test_validity_and_relative_schedules():
    later = profile(limit=8, valid_from=T0 + timedelta(hours=1), valid_to=T0 + timedelta(hours=2))
    assert limit([later]) == 22_000
    assert limit([later], at=T0 + timedelta(hours=1)) == pytest.approx(8 * 690)
    assert limit([later], at=T0 + timedelta(hours=2)) == 22_000
    # Relative: from the start of the transaction; 10 minutes in, the second period runs.
    stepped = profile(kind="Relative", start_schedule=None, periods=(Period(0, 32), Period(300, 16)))
    assert limit([stepped]) == pytest.approx(16 * 690)


def test_a_daily_profile_recurs_and_a_weekly_one_waits_a_week():
    night = profile(
        limit=30, kind="Recurring", recurrency="Daily", duration=6 * 3600, start_schedule=T0 - timedelta(hours=10)
    )  # 22:00 to 04:00 every night
    assert limit([night]) == 22_000
    assert limit([night], at=T0 + timedelta(days=3, hours=15)) == pytest.approx(30 * 690)
    weekly = profile(limit=8, kind="Recurring", recurrency="Weekly", duration=3600)
    assert limit([weekly], at=T0 + timedelta(days=1)) == 22_000
    assert limit([weekly], at=T0 + timedelta(days=7, minutes=5)) == pytest.approx(8 * 690)


def test_the_composite_schedule_lists_each_change_of_limit():
    held = [
        profile(TX_DEFAULT, limit=16, id=1, periods=(Period(0, 16), Period(600, 10))),
        profile(STATION_MAX, limit=9_000, unit="W", id=2, connector_id=0, valid_from=T0 + timedelta(seconds=300)),
    ]
    periods = profiles.composite_schedule(held, 1, T0, 3600, SESSION, THREE_PHASE, unit="A")
    assert periods == [Period(0, 16.0), Period(300, 13.0), Period(600, 10.0)]


def test_a_profile_replaces_one_of_the_same_id_or_the_same_slot():
    old = profile(id=1, stack_level=2)
    assert profiles.replaces(profile(id=1, stack_level=3), old)
    assert profiles.replaces(profile(id=9, stack_level=2), old)
    assert not profiles.replaces(profile(id=9, stack_level=3), old)
    assert not profiles.replaces(profile(id=9, stack_level=2, connector_id=2), old)


def test_both_versions_wire_forms_become_the_same_profile():
    schedule = {"charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 16}]}
    common = {"stack_level": 1, "charging_profile_purpose": "TxDefaultProfile", "charging_profile_kind": "Relative"}
    v16 = profiles.from_wire({**common, "charging_profile_id": 4, "charging_schedule": schedule}, 1, T0)
    v201 = profiles.from_wire({**common, "id": 4, "charging_schedule": [{"id": 1, **schedule}]}, 1, T0)
    assert v16 == v201 and v16.purpose == TX_DEFAULT and v16.periods == (Period(0, 16.0),)
    station_max = {**common, "id": 5, "charging_profile_purpose": "ChargingStationMaxProfile"}
    assert profiles.from_wire({**station_max, "charging_schedule": [schedule]}, 0, T0).purpose == STATION_MAX


# Random sets of profiles on connector 1 (or the station), at whole seconds from T0.
seconds = st.integers(min_value=-7200, max_value=7200)
periods = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=3000), st.floats(min_value=0, max_value=64), st.sampled_from([None, 1, 3])
    ),
    max_size=3,
).map(lambda rest: (Period(0, 16.0), *(Period(start, round(lim, 1), ph) for start, lim, ph in rest)))


@st.composite
def random_profile(draw, profile_id):
    purpose = draw(st.sampled_from([STATION_MAX, TX_DEFAULT, TX]))
    unit = draw(st.sampled_from(["A", "W"]))
    chosen = draw(periods)
    if unit == "W":
        chosen = tuple(Period(p.start, round(p.limit * 700, 1), p.phases) for p in chosen)
    kind = draw(st.sampled_from(["Absolute", "Relative", "Recurring"]))
    valid_from = draw(st.none() | seconds.map(lambda s: T0 + timedelta(seconds=s)))
    return Profile(
        id=profile_id,
        connector_id=0 if purpose == STATION_MAX else draw(st.sampled_from([0, 1])),
        purpose=purpose,
        stack_level=draw(st.integers(min_value=0, max_value=3)),
        kind=kind,
        unit=unit,
        periods=tuple(sorted(set(chosen), key=lambda p: p.start)),
        received_at=T0,
        start_schedule=None if kind == "Relative" else T0 + timedelta(seconds=draw(seconds)),
        duration=draw(st.none() | st.integers(min_value=1, max_value=5000)),
        recurrency=draw(st.sampled_from(["Daily", "Weekly"])) if kind == "Recurring" else None,
        valid_from=valid_from,
        valid_to=draw(
            st.none()
            | st.integers(min_value=1, max_value=9000).map(lambda s: (valid_from or T0) + timedelta(seconds=s))
        ),
        transaction_id=draw(st.sampled_from([None, 7, 8])) if purpose == TX else None,
    )


profile_sets = st.integers(min_value=0, max_value=6).flatmap(
    lambda n: st.tuples(*(random_profile(i + 1) for i in range(n)))
)
sessions = st.none() | st.builds(Session, st.sampled_from([7, 8]), seconds.map(lambda s: T0 + timedelta(seconds=s)))


@settings(max_examples=400, deadline=None)
@given(held=profile_sets, at=seconds, session=sessions, sharing=st.integers(min_value=1, max_value=4))
def test_the_limit_is_never_above_any_profile_that_applies(held, at, session, sharing):
    moment = T0 + timedelta(seconds=at)
    got = limit(held, at=moment, session=session, sharing=sharing)
    assert 0 <= got <= THREE_PHASE.max_w
    # What applies, worked out here by brute force: of each purpose the highest stack level with a period
    # running (the connector's own before the station's); a TxProfile only for its transaction, and then
    # instead of the default; the station's maximum shared by the connectors charging.
    running = {p: profiles.profile_limit_w(p, moment, session, THREE_PHASE) for p in held}
    running = {p: w for p, w in running.items() if w is not None}

    def prevailing(purpose):
        mine = [p for p in running if p.purpose == purpose]
        return max(mine, key=lambda p: (p.connector_id == 1, p.stack_level), default=None)

    tx = prevailing(TX) if session else None
    applicable = [running[tx] if tx else None]
    if tx is None and (default := prevailing(TX_DEFAULT)):
        applicable.append(running[default])
    if station := prevailing(STATION_MAX):
        applicable.append(running[station] / sharing)
    for bound in (b for b in applicable if b is not None):
        assert got <= bound + 1e-9
    # And in amperes: no period of an A schedule that applies is exceeded on any phase.
    for p in (tx, prevailing(TX_DEFAULT) if tx is None else None):
        if p is not None and p.unit == "A":
            assert got / (230 * 3) <= max(q.limit for q in p.periods) + 1e-9


@settings(max_examples=200, deadline=None)
@given(held=profile_sets, session=sessions, offset=st.integers(min_value=0, max_value=3599))
def test_the_composite_schedule_is_the_limit_at_every_second(held, session, offset):
    periods = profiles.composite_schedule(held, 1, T0, 3600, session, THREE_PHASE)
    assert periods[0].start == 0 and [p.start for p in periods] == sorted({p.start for p in periods})
    current = [p for p in periods if p.start <= offset][-1]
    assert current.limit == round(limit(held, at=T0 + timedelta(seconds=offset), session=session), 1)
