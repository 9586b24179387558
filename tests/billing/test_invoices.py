"""Invoices: gap-free numbers under concurrent issuers, monthly statements, tax totals, credit notes, PDF."""

import base64
import re
import threading
import zlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from billing import services
from billing.models import Invoice, InvoiceLine, Operator, Payment, Refund, WalletEntry
from billing.pdf import invoice_pdf
from billing.services.invoices import invoice_recalculate
from tests.billing.conftest import T0

D = Decimal


def draft(operator, customer, *lines, currency="EUR") -> Invoice:
    invoice = Invoice.objects.create(
        operator=operator, customer=customer, purpose=Invoice.Purpose.SESSION, currency=currency
    )
    for position, (net, rate) in enumerate(lines, start=1):
        InvoiceLine.objects.create(
            invoice=invoice,
            position=position,
            description=f"Line {position}",
            unit_price=net,
            net_amount=net,
            tax_rate=rate,
        )
    return invoice


@pytest.mark.django_db(transaction=True)
def test_invoice_numbers_stay_gap_free_and_unique_under_concurrent_workers(operator, driver):
    drafts = [draft(operator, driver, (D("1.00"), D("19"))) for _ in range(16)]
    barrier = threading.Barrier(8)
    errors = []

    def issue(batch):
        try:
            barrier.wait()
            for invoice in batch:
                services.invoice_finalize(invoice=invoice)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=issue, args=(drafts[index::8],)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    year = timezone.now().year
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"VG-{year}-{n:06d}" for n in range(1, 17)]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_issue_gives_its_number_back(operator, driver):
    first, second = draft(operator, driver, (D("1"), D("0"))), draft(operator, driver, (D("1"), D("0")))
    with pytest.raises(RuntimeError), transaction.atomic():
        services.invoice_finalize(invoice=first)
        raise RuntimeError("the worker died before committing")
    assert Invoice.objects.get(pk=first.pk).number is None
    assert services.invoice_finalize(invoice=second).number.endswith("-000001")
    assert services.invoice_finalize(invoice=first).number.endswith("-000002")


def test_each_operator_and_document_kind_has_its_own_sequence(operator, driver):
    other = Operator.objects.create(
        name="City", legal_name="City Power", address="Rathaus 1", vat_id="DE136695976", invoice_prefix="CITY-"
    )
    year = timezone.now().year
    assert services.invoice_finalize(invoice=draft(other, driver, (D("2"), D("0")))).number == f"CITY-{year}-000001"
    invoice = services.invoice_finalize(invoice=draft(operator, driver, (D("2"), D("0"))))
    assert invoice.number == f"VG-{year}-000001"
    note = services.invoice_credit(invoice=invoice, reason="Goodwill")
    assert note.number == f"VG-CN-{year}-000001"


def test_tax_is_computed_per_rate_on_the_sum_of_the_lines(operator, driver):
    invoice = draft(
        operator, driver, (D("0.05"), D("19")), (D("0.05"), D("19")), (D("0.05"), D("19")), (D("10.00"), D("7"))
    )
    invoice_recalculate(invoice)
    # 19 % of 0.15 = 0.0285 -> 0.03 (line by line it would be 3 x 0.01); 7 % of 10.00 = 0.70.
    assert invoice.tax_breakdown == [
        {"rate": "7.00", "net": "10.00", "tax": "0.70"},
        {"rate": "19.00", "net": "0.15", "tax": "0.03"},
    ]
    assert (invoice.net_total, invoice.tax_total, invoice.gross_total) == (D("10.15"), D("0.73"), D("10.88"))


def test_monthly_statement_collects_the_months_sessions_and_is_issued_after_the_month(
    make_session, make_tariff, operator, driver
):
    operator.invoicing_mode = Operator.InvoicingMode.MONTHLY
    operator.save()
    make_tariff(price_per_kwh=D("0.50"))
    for day in (1, 5, 15):
        services.session_charge_create(transaction_id=make_session(user=driver, started_at=T0 + timedelta(days=day)).pk)
    april = services.session_charge_create(
        transaction_id=make_session(user=driver, started_at=datetime(2025, 4, 2, 8, tzinfo=UTC)).pk
    )
    statement = Invoice.objects.get(status=Invoice.Status.DRAFT, period_start__month=2, period_end__month=3)
    assert statement.lines.count() == 3
    assert statement.gross_total == D("17.85")  # 3 x 5.00 net, tax on 15.00
    assert statement.period_start == datetime(2025, 2, 28, 23, tzinfo=UTC)  # 1 March in Berlin

    assert services.statements_issue_due(now=datetime(2025, 3, 31, 21, tzinfo=UTC)) == 0
    assert services.statements_issue_due(now=datetime(2025, 4, 1, 0, tzinfo=UTC)) == 1
    statement.refresh_from_db()
    assert statement.status == Invoice.Status.OPEN
    assert statement.number.startswith("VG-")
    assert Payment.objects.get(invoice=statement).amount == D("17.85")
    assert april.invoice.status == Invoice.Status.DRAFT
    assert Invoice.objects.filter(purpose=Invoice.Purpose.STATEMENT).count() == 2


def test_credit_note_for_a_paid_wallet_invoice_refunds_the_wallet(make_session, make_tariff, operator, funded_driver):
    make_tariff(price_per_kwh=D("1.00"))
    charge = services.session_charge_create(transaction_id=make_session(user=funded_driver).pk)
    payment = services.payment_collect(payment_id=charge.invoice.payment.pk)
    assert payment.status == Payment.Status.SUCCEEDED
    assert funded_driver.wallet.balance == D("38.10")  # 50 - 11.90

    note = services.invoice_credit(invoice=charge.invoice, reason="Charger fault")

    assert note.kind == Invoice.Kind.CREDIT_NOTE
    assert note.gross_total == D("-11.90")
    assert note.status == Invoice.Status.PAID
    assert Refund.objects.get(credit_note=note).status == Refund.Status.SUCCEEDED
    funded_driver.wallet.refresh_from_db()
    assert funded_driver.wallet.balance == D("50.00")
    assert WalletEntry.objects.filter(kind=WalletEntry.Kind.REFUND).count() == 1
    with pytest.raises(Exception, match="Nothing left to credit"):
        services.invoice_credit(invoice=charge.invoice, reason="Again")


def test_credit_note_for_an_unpaid_invoice_cancels_what_is_due(operator, driver):
    invoice = services.invoice_finalize(invoice=draft(operator, driver, (D("4.00"), D("19")), (D("6.00"), D("19"))))
    first_line = invoice.lines.order_by("position").first()
    partial = services.invoice_credit(invoice=invoice, reason="Wrong session", line_ids=[first_line.pk])
    payment = Payment.objects.get(invoice=invoice)
    assert partial.gross_total == D("-4.76")
    assert payment.amount == D("7.14")
    services.invoice_credit(invoice=invoice, reason="The rest too")
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert payment.status == Payment.Status.CANCELLED
    assert invoice.status == Invoice.Status.CREDITED


def test_a_draft_or_a_credit_note_cannot_be_credited(operator, driver):
    with pytest.raises(Exception, match="Only an issued invoice"):
        services.invoice_credit(invoice=draft(operator, driver, (D("1"), D("0"))), reason="x")


def _pdf_text(data: bytes) -> str:
    """The text drawn on the pages (ReportLab writes content streams ASCII85-encoded and zlib-compressed)."""
    text = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", data, re.S):
        try:
            raw = base64.a85decode(stream.strip().removesuffix(b"~>"))
            text.append(zlib.decompress(raw).decode("latin-1"))
        except (ValueError, zlib.error):
            continue
    return "".join(text)


def test_pdf_shows_issuer_customer_lines_tax_and_total(make_session, make_tariff, operator, driver):
    make_tariff(price_per_kwh=D("0.40"))
    charge = services.session_charge_create(transaction_id=make_session(user=driver).pk)
    data = invoice_pdf(charge.invoice)
    assert data.startswith(b"%PDF")
    text = _pdf_text(data)
    for expected in (
        charge.invoice.number,
        "Voltgrid Energy GmbH",
        "DE123456789",
        "driver@example.com",
        "Charging session",
        "Tax 19.00 %",
        "4.76 EUR",
    ):
        assert expected in text, expected
