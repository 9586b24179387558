"""Pricing, invoicing and billing many sessions at once (``sessions_charge_batch``, the sweep that clears a backlog):
the same charges as one session at a time, gap-free receipt numbers taken per batch, and idempotent -- a second
run, a replayed task or a racing batch changes nothing."""

import threading
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from decimal import Decimal

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import selectors, services
from billing.models import DriverGroup, Invoice, InvoiceLine, Operator, Payment, SessionCharge, Tariff
from sessions.models import Transaction
from tests.billing.conftest import T0

D = Decimal
COMPARED = (
    "status",
    "tariff_id",
    "operator_id",
    "user_id",
    "currency",
    "energy_wh",
    "charging_seconds",
    "idle_seconds",
    "net_amount",
    "tax_rate",
    "tax_amount",
    "gross_amount",
    "breakdown",
)


def _receipt_numbers() -> list[int]:
    numbers = Invoice.objects.filter(purpose=Invoice.Purpose.SESSION).values_list("number", flat=True)
    return sorted(int(number.rsplit("-", 1)[1]) for number in numbers)


def _one_of_each(sessions) -> None:
    """Every session has exactly one charge; every billable charge one receipt, one line and one payment."""
    ids = [session.pk for session in sessions]
    assert SessionCharge.objects.filter(transaction_id__in=ids).count() == len(ids)
    billable = SessionCharge.objects.filter(transaction_id__in=ids, status=SessionCharge.Status.BILLABLE)
    assert InvoiceLine.objects.filter(session_charge__in=billable).count() == billable.count()
    assert Invoice.objects.filter(session_charges__in=billable).distinct().count() == billable.count()
    assert Payment.objects.filter(invoice__session_charges__in=billable).count() == billable.count()


@pytest.fixture
def network(site, station, make_station, make_tariff, operator, driver, django_user_model):
    """Public tariffs on the network and at the depot (with an off-peak period), a fleet group's tariff, and
    drivers: one in the fleet, one not, and sessions of nobody's card."""
    make_tariff(name="Network", price_per_kwh=D("0.50"))
    make_tariff(
        name="Depot",
        site=site,
        price_per_kwh=D("0.40"),
        start_fee=D("1.00"),
        idle_price_per_minute=D("0.10"),
        idle_grace_minutes=10,
        periods=[
            {
                "name": "Night",
                "weekdays": "1234567",
                "start_time": clock(22),
                "end_time": clock(6),
                "price_per_kwh": D("0.30"),
            }
        ],
    )
    fleet = DriverGroup.objects.create(name="Fleet")
    make_tariff(name="Fleet", driver_group=fleet, price_per_kwh=D("0.25"))
    member = django_user_model.objects.create_user(email="fleet@example.com", password="fleet-pass-123")
    fleet.members.add(member)
    roadside = make_station(ocpp_id="CP-ROAD")  # no site: the network tariff
    return {"stations": [station, roadside], "users": [driver, member, None]}


session_plans = st.lists(
    st.tuples(
        st.integers(0, 1),  # station
        st.integers(0, 2),  # user
        st.integers(0, 60 * 24 * 3),  # start, minutes after T0
        st.integers(0, 300),  # minutes
        st.integers(0, 60_000),  # Wh
    ),
    min_size=1,
    max_size=6,
)


@pytest.mark.django_db
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plans=session_plans)
def test_a_batch_charges_exactly_what_pricing_one_at_a_time_charges(network, make_session, plans):
    with transaction.atomic():
        twins = []
        for index, (station_index, user_index, start, minutes, energy) in enumerate(plans):
            kwargs = dict(
                on=network["stations"][station_index],
                user=network["users"][user_index],
                started_at=T0 + timedelta(minutes=start),
                minutes=minutes,
                energy_wh=energy,
                statuses=[(T0 + timedelta(minutes=start + minutes // 2), "SuspendedEV")] if minutes > 20 else (),
            )
            # Each on a connector of its own: a connector's status history is one session's.
            twins.append(
                (make_session(connector_id=2 * index + 1, **kwargs), make_session(connector_id=2 * index + 2, **kwargs))
            )
        singles = [services.session_charge_create(transaction_id=one.pk) for one, _other in twins]
        assert services.sessions_charge_batch(transaction_ids=[other.pk for _one, other in twins]) == len(twins)
        for single, (_one, other) in zip(singles, twins, strict=True):
            batched = SessionCharge.objects.get(transaction=other)
            assert {field: getattr(batched, field) for field in COMPARED} == {
                field: getattr(single, field) for field in COMPARED
            }
            if single.invoice is not None:
                assert (batched.invoice.gross_total, batched.invoice.status) == (
                    single.invoice.gross_total,
                    single.invoice.status,
                )
        _one_of_each([other for _one, other in twins])
        numbers = _receipt_numbers()
        assert numbers == list(range(1, len(numbers) + 1))  # one sequence, no gap, whichever path took them
        transaction.set_rollback(True)


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    scopes=st.lists(
        st.tuples(
            st.sampled_from(["station", "elsewhere", "site", "network"]),
            st.booleans(),  # for the fleet only
            st.integers(-3, 3),  # valid from, days after T0
            st.one_of(st.none(), st.integers(1, 5)),  # lasting days
        ),
        max_size=6,
    ),
    at_days=st.integers(-4, 8),
    user_index=st.integers(0, 2),
    station_index=st.integers(0, 1),
)
def test_the_batchs_tariff_choice_is_tariff_for(
    network, site, scopes, at_days, user_index, station_index, django_user_model
):
    with transaction.atomic():
        station, elsewhere = network["stations"][station_index], network["stations"][1 - station_index]
        fleet = DriverGroup.objects.get(name="Fleet")
        for index, (scope, fleet_only, from_days, lasting) in enumerate(scopes):
            valid_from = T0 + timedelta(days=from_days)
            Tariff.objects.create(
                name=f"T{index}",
                currency="EUR",
                price_per_kwh=D("0.1"),
                valid_from=valid_from,
                valid_until=valid_from + timedelta(days=lasting) if lasting else None,
                station={"station": station, "elsewhere": elsewhere}.get(scope),
                site=site if scope == "site" else None,
                driver_group=fleet if fleet_only else None,
            )
        user, at = network["users"][user_index], T0 + timedelta(days=at_days, hours=5)
        book = selectors.TariffBook(
            since=at - timedelta(days=1),
            until=at + timedelta(days=1),
            user_ids=[user.pk] if user else [],
            stations=[station],
        )
        assert book.tariff_for(station=station, user=user, at=at) == selectors.tariff_for(
            station=station, user=user, at=at
        )
        transaction.set_rollback(True)


@pytest.mark.django_db(transaction=True)
def test_a_second_batch_and_a_replayed_task_change_nothing(network, make_session, funded_driver, celery_eager):
    sessions = [make_session(user=funded_driver, started_at=T0 + timedelta(hours=hour)) for hour in range(5)]
    ids = [session.pk for session in sessions]
    assert services.sessions_charge_batch(transaction_ids=ids) == 5
    before = (
        list(SessionCharge.objects.order_by("pk").values_list("pk", "invoice_id", "gross_amount")),
        list(Invoice.objects.order_by("pk").values_list("pk", "number", "status")),
        list(Payment.objects.order_by("pk").values_list("pk", "status", "attempts")),
    )
    assert services.sessions_charge_batch(transaction_ids=ids) == 0
    for session in sessions:  # the per-session task, delivered late
        assert services.session_charge_create(transaction_id=session.pk).invoice_id is not None
    after = (
        list(SessionCharge.objects.order_by("pk").values_list("pk", "invoice_id", "gross_amount")),
        list(Invoice.objects.order_by("pk").values_list("pk", "number", "status")),
        list(Payment.objects.order_by("pk").values_list("pk", "status", "attempts")),
    )
    assert after == before
    # Collected from the wallet after the commit (in-process here), each once; collecting again does nothing.
    assert {status for _pk, status, _attempts in after[2]} == {Payment.Status.SUCCEEDED}
    assert {status for _pk, _number, status in after[1]} == {Invoice.Status.PAID}
    services.payments_collect_batch(payment_ids=[pk for pk, _status, _attempts in after[2]])
    assert list(Payment.objects.order_by("pk").values_list("pk", "status", "attempts")) == after[2]
    assert {attempts for _pk, _status, attempts in after[2]} == {1}


@pytest.mark.django_db(transaction=True)
def test_racing_batches_bill_each_session_once_and_keep_the_numbers_gap_free(network, make_session, driver):
    sessions = [
        make_session(user=driver, started_at=T0 + timedelta(minutes=10 * index), connector_id=index + 1)
        for index in range(60)
    ]
    ids = [session.pk for session in sessions]
    shares = [ids[:40], ids[20:], ids[::-1]]  # overlapping, in different orders
    priced, errors = [], []

    def run(share):
        try:
            priced.append(services.sessions_charge_batch(transaction_ids=share))
        except Exception as error:  # reported to the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    services.sessions_charge_batch(transaction_ids=ids)  # whatever a racer skipped as locked
    assert sum(priced) <= 60
    _one_of_each(sessions)
    assert _receipt_numbers() == list(range(1, 61))


def test_the_sweep_clears_a_backlog_in_batches_and_a_second_sweep_finds_nothing(
    network, make_session, driver, celery_eager, monkeypatch
):
    from billing.services import pricing

    monkeypatch.setattr(pricing, "PRICING_BATCH", 7)  # several batches from a small backlog
    sessions = [
        make_session(user=driver, started_at=T0 + timedelta(minutes=5 * index), connector_id=index + 1)
        for index in range(30)
    ]
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert services.sessions_price_missing(now=later) == 30
    _one_of_each(sessions)
    assert _receipt_numbers() == list(range(1, 31))
    assert services.sessions_price_missing(now=later) == 0


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_racing_over_one_backlog_price_each_session_once_with_gap_free_numbers(
    network, make_session, driver, monkeypatch
):
    from billing.services import pricing

    monkeypatch.setattr(pricing, "PRICING_BATCH", 9)  # many batches, so that the two sweeps meet in each other's
    sessions = [
        make_session(user=driver, started_at=T0 + timedelta(minutes=5 * index), connector_id=index + 1)
        for index in range(80)
    ]
    later = datetime.now(UTC) + timedelta(minutes=5)
    priced, errors, start = [], [], threading.Barrier(2)

    def sweep():
        try:
            start.wait()
            priced.append(services.sessions_price_missing(now=later))
        except Exception as error:  # reported to the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(priced) == 80  # what one sweep skipped as locked, the other priced
    _one_of_each(sessions)
    assert _receipt_numbers() == list(range(1, 81))
    assert services.sessions_price_missing(now=later) == 0


def test_receipts_that_wait_for_the_issuer_and_statements_take_the_one_session_path(
    network, make_session, driver, operator
):
    Operator.objects.filter(pk=operator.pk).update(vat_id="")
    waiting = make_session(user=driver)
    services.sessions_charge_batch(transaction_ids=[waiting.pk])
    invoice = SessionCharge.objects.get(transaction=waiting).invoice
    assert (invoice.status, invoice.number) == (Invoice.Status.DRAFT, None)

    Operator.objects.filter(pk=operator.pk).update(vat_id="DE123456789", invoicing_mode="monthly")
    first, second = (
        make_session(user=driver, started_at=T0 + timedelta(hours=2)),
        make_session(user=driver, started_at=T0 + timedelta(hours=4)),
    )
    services.sessions_charge_batch(transaction_ids=[first.pk, second.pk])
    statement = SessionCharge.objects.get(transaction=first).invoice
    assert statement.purpose == Invoice.Purpose.STATEMENT and statement.status == Invoice.Status.DRAFT
    assert SessionCharge.objects.get(transaction=second).invoice == statement
    assert statement.lines.count() == 2


def test_a_session_whose_data_breaks_the_batch_is_held_and_the_others_are_billed(network, make_session, driver):
    good = make_session(user=driver)
    broken = make_session(user=driver, started_at=T0 + timedelta(hours=3))
    Transaction.objects.filter(pk=broken.pk).update(stopped_at=broken.started_at - timedelta(hours=1))
    services.sessions_charge_batch(transaction_ids=[good.pk, broken.pk])
    assert SessionCharge.objects.get(transaction=good).status == SessionCharge.Status.BILLABLE
    assert SessionCharge.objects.get(transaction=broken).status == SessionCharge.Status.HELD


@pytest.mark.django_db(transaction=True)
def test_a_wallet_that_covers_only_the_first_payment_pays_it_and_the_next_fails_as_one_at_a_time(
    network, make_session, driver, celery_eager
):
    from billing.models import Wallet
    from billing.services import wallet_post

    wallet_post(user_id=driver.pk, amount=D("10.00"), currency="EUR", kind="top_up", reference="seed:ten")
    roadside = network["stations"][1]  # 0.50 EUR per kWh, 19 % tax
    first = make_session(on=roadside, user=driver, energy_wh=13_445)  # 8.00 EUR
    second = make_session(on=roadside, user=driver, energy_wh=8_403, started_at=T0 + timedelta(hours=2))  # 5.00 EUR
    services.sessions_charge_batch(transaction_ids=[first.pk, second.pk])

    paid, refused = (Payment.objects.get(invoice__session_charges__transaction=s) for s in (first, second))
    assert (paid.amount, paid.status, paid.attempts) == (D("8.00"), Payment.Status.SUCCEEDED, 1)
    assert paid.invoice.status == Invoice.Status.PAID
    assert (refused.status, refused.attempts, refused.last_error_code) == (
        Payment.Status.FAILED,
        1,
        "insufficient_funds",
    )
    assert refused.next_retry_at is not None and refused.invoice.status == Invoice.Status.OPEN
    assert Wallet.objects.get(user=driver).balance == D("2.00")
    services.payments_collect_batch(payment_ids=[paid.pk, refused.pk])  # a replayed task
    assert Wallet.objects.get(user=driver).balance == D("2.00")
    assert list(Payment.objects.order_by("pk").values_list("status", "attempts")) == [
        (Payment.Status.SUCCEEDED, 1),
        (Payment.Status.FAILED, 1),
    ]


def test_a_copied_row_that_breaks_a_constraint_raises_the_orms_integrity_error(network, make_session, driver):
    """The batch writes by COPY (``billing.services.bulk``); its errors are the ORM's, as ``bulk_create``'s were, so
    the batch's callers tell a session's bad data (DataError) from a lost race (IntegrityError) as before."""
    from django.db import IntegrityError

    from billing.services.bulk import ids_take, rows_copy

    charge = services.session_charge_create(transaction_id=make_session(user=driver).pk)
    twin = SessionCharge(
        **{field.attname: getattr(charge, field.attname) for field in SessionCharge._meta.concrete_fields[1:]}
    )
    ids_take(SessionCharge, [twin])
    with pytest.raises(IntegrityError), transaction.atomic():
        rows_copy(SessionCharge, [twin])  # a second charge of the same session
    assert SessionCharge.objects.filter(transaction_id=charge.transaction_id).count() == 1
