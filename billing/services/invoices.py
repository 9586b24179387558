"""Invoices: receipts per session or monthly statements, gap-free numbering per operator, credit notes."""

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from billing.models import (
    BillingProfile,
    DocumentSequence,
    Invoice,
    InvoiceLine,
    Operator,
    Payment,
    Refund,
    SessionCharge,
)
from billing.money import ZERO, round_money, tax_of
from billing.selectors import profile_of
from billing.services.bulk import ids_take, rows_copy

logger = logging.getLogger(__name__)


def next_document_number(*, operator: Operator, kind: str, issued_at: datetime) -> str:
    """The next number of ``kind`` for ``operator`` in the year of ``issued_at`` (operator's time zone).

    Taken by an UPDATE of the sequence row inside the caller's transaction: the row stays locked until
    the commit, so concurrent issuers wait for each other, and a rollback gives the number back (no gaps).
    """
    return next_document_numbers(operator=operator, kind=kind, issued_at=issued_at, count=1)[0]


def next_document_numbers(*, operator: Operator, kind: str, issued_at: datetime, count: int) -> list[str]:
    """``count`` consecutive numbers at once, as ``next_document_number`` takes one (for documents issued in
    bulk, such as an imported history): one UPDATE instead of one per document."""
    year = issued_at.astimezone(ZoneInfo(operator.timezone)).year
    table = DocumentSequence._meta.db_table
    with connection.cursor() as cursor:
        for _ in range(2):
            cursor.execute(
                f"UPDATE {table} SET last_number = last_number + %s"  # noqa: S608 - our own table name
                " WHERE operator_id = %s AND kind = %s AND year = %s RETURNING last_number",
                [count, operator.pk, kind, year],
            )
            row = cursor.fetchone()
            if row is not None:
                break
            # First document of this kind this year: create the sequence (racing creators: one wins).
            DocumentSequence.objects.bulk_create(
                [DocumentSequence(operator=operator, kind=kind, year=year)], ignore_conflicts=True
            )
    prefix = operator.credit_note_prefix if kind == Invoice.Kind.CREDIT_NOTE else operator.invoice_prefix
    return [f"{prefix}{year}-{number:06d}" for number in range(row[0] - count + 1, row[0] + 1)]


def month_bounds(moment: datetime, zone_name: str) -> tuple[datetime, datetime]:
    """The calendar month around ``moment`` in the operator's time zone, as UTC instants."""
    zone = ZoneInfo(zone_name)
    local = moment.astimezone(zone)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def invoice_recalculate(invoice: Invoice, lines: list[InvoiceLine] | None = None) -> None:
    """Totals from the lines: tax per rate on the sum of that rate's net amounts, rounded once."""
    by_rate: dict[Decimal, Decimal] = defaultdict(lambda: ZERO)
    pairs = (
        invoice.lines.values_list("net_amount", "tax_rate")
        if lines is None
        else [(line.net_amount, line.tax_rate) for line in lines]
    )
    for net, rate in pairs:
        by_rate[Decimal(rate)] += net
    breakdown = []
    for rate in sorted(by_rate):
        net = round_money(by_rate[rate], invoice.currency)
        breakdown.append({"rate": f"{rate:.2f}", "net": str(net), "tax": str(tax_of(net, rate, invoice.currency))})
    invoice.net_total = sum((Decimal(row["net"]) for row in breakdown), ZERO)
    invoice.tax_total = sum((Decimal(row["tax"]) for row in breakdown), ZERO)
    invoice.gross_total = invoice.net_total + invoice.tax_total
    invoice.tax_breakdown = breakdown


def _customer_details(user, profile) -> dict:
    return {
        "name": profile.billing_name or user.get_full_name() or user.email,
        "email": user.email,
        "address": profile.billing_address,
        "vat_id": profile.vat_id,
    }


def _session_line(charge: SessionCharge, position: int) -> InvoiceLine:
    session = charge.transaction
    kwh = Decimal(charge.energy_wh) / 1000
    started = charge.session_started_at.astimezone(ZoneInfo(charge.operator.timezone)).strftime("%Y-%m-%d %H:%M")
    return InvoiceLine(
        position=position,
        description=f"Charging session {session.pk} at {session.station}, {started}, {kwh:.3f} kWh",
        detail=charge.breakdown.get("detail", ""),
        quantity=Decimal(1),
        unit="session",
        unit_price=charge.net_amount,
        net_amount=charge.net_amount,
        tax_rate=charge.tax_rate,
        session_charge=charge,
    )


def invoice_add_session(*, charge: SessionCharge) -> Invoice:
    """Store a priced, billable session and bill it: on its own receipt, issued at once, or as a line of
    the driver's monthly statement (the operator's choice)."""
    operator = charge.operator
    if operator.invoicing_mode == Operator.InvoicingMode.PER_SESSION:
        invoice = Invoice(
            operator=operator, customer=charge.user, purpose=Invoice.Purpose.SESSION, currency=charge.currency
        )
        line = _session_line(charge, 1)
        _issue(invoice, lines=[line], now=timezone.now())  # or kept as a draft until the issuer is complete
        charge.invoice = invoice
        charge.save()
        line.invoice, line.session_charge = invoice, charge
        line.save()
        return invoice

    ended_at = charge.transaction.stopped_at or charge.session_started_at
    period_start, period_end = month_bounds(ended_at, operator.timezone)
    draft_key = {
        "operator": operator,
        "customer": charge.user,
        "currency": charge.currency,
        "period_start": period_start,
        "status": Invoice.Status.DRAFT,
        "purpose": Invoice.Purpose.STATEMENT,
    }
    draft = Invoice.objects.select_for_update().filter(**draft_key).first()
    if draft is None:
        try:
            with transaction.atomic():
                draft = Invoice.objects.create(period_end=period_end, **draft_key)
        except IntegrityError:
            # Another worker opened this month's statement first.
            draft = Invoice.objects.select_for_update().get(**draft_key)
    charge.invoice = draft
    charge.save()
    line = _session_line(charge, draft.lines.count() + 1)
    line.invoice = draft
    line.save()
    invoice_recalculate(draft)
    draft.save(update_fields=["net_total", "tax_total", "gross_total", "tax_breakdown", "updated_at"])
    return draft


def charges_save_and_bill(*, charges: list[SessionCharge], now: datetime | None = None) -> None:
    """Store many priced, unsaved charges and bill the billable ones as ``invoice_add_session`` bills one (the
    batch pricing): each on its own receipt, issued now; the charges, lines, payments and receipts written by
    COPY (``billing.services.bulk``) and the receipts' numbers taken per operator in one UPDATE, in the order of
    ``charges`` (gap-free: a rollback gives them all back).

    Billable charges of an operator who bills by monthly statement, or whose legal details are incomplete
    (the receipt waits as a draft), take the one-charge path. Call inside the caller's transaction.
    """
    from billing.services.payments import payments_create

    now = now or timezone.now()
    receipts, one_by_one = [], []
    complete: dict[int, bool] = {}
    for charge in charges:
        if charge.status != SessionCharge.Status.BILLABLE:
            continue
        operator = charge.operator
        if operator.pk not in complete:
            complete[operator.pk] = not operator.missing_legal_details()
        per_session = operator.invoicing_mode == Operator.InvoicingMode.PER_SESSION
        (receipts if per_session and complete[operator.pk] else one_by_one).append(charge)
    by_itself = {id(charge) for charge in one_by_one}
    stored = [charge for charge in charges if id(charge) not in by_itself]
    ids_take(SessionCharge, stored)
    invoices, lines, pairs = _receipts_issue(receipts, now)
    rows_copy(SessionCharge, stored)
    rows_copy(InvoiceLine, lines)
    payments_create([(invoice, method) for invoice, method in pairs if invoice.gross_total > 0])
    # Locks (statement drafts, number sequences) are taken in one order by every batch: racing batches never
    # wait for each other in a circle.
    one_by_one.sort(key=lambda charge: (charge.operator_id, charge.user_id, charge.currency, charge.transaction_id))
    for charge in one_by_one:
        invoice_add_session(charge=charge)
    _receipts_number(invoices, now)
    rows_copy(Invoice, invoices)


def _receipts_issue(charges: list[SessionCharge], now: datetime) -> tuple[list[Invoice], list[InvoiceLine], list]:
    """The issued receipts of ``charges`` (saved charges: their keys taken), unsaved but with their keys, each
    charge's ``invoice`` set; their lines, likewise; and (receipt, payment method) pairs."""
    if not charges:
        return [], [], []
    profiles = {
        profile.user_id: profile
        for profile in BillingProfile.objects.filter(user_id__in={charge.user_id for charge in charges})
    }
    issuers: dict[int, dict] = {}
    invoices, lines, pairs = [], [], []
    for charge in charges:
        invoice = Invoice(
            operator=charge.operator, customer=charge.user, purpose=Invoice.Purpose.SESSION, currency=charge.currency
        )
        line = _session_line(charge, 1)
        invoice_recalculate(invoice, [line])
        profile = profiles.get(charge.user_id) or BillingProfile(user=charge.user)
        if charge.operator_id not in issuers:
            issuers[charge.operator_id] = charge.operator.issuer_snapshot()
        invoice.issued_at, invoice.due_at = now, now + timedelta(days=charge.operator.payment_terms_days)
        invoice.issuer = issuers[charge.operator_id]
        invoice.customer_details = _customer_details(charge.user, profile)
        if invoice.gross_total > 0:
            invoice.status = Invoice.Status.OPEN
        else:
            invoice.status, invoice.paid_at = Invoice.Status.PAID, now
        invoices.append(invoice)
        lines.append(line)
        pairs.append((invoice, profile.payment_method))
    ids_take(Invoice, invoices)
    ids_take(InvoiceLine, lines)
    for invoice, line, charge in zip(invoices, lines, charges, strict=True):
        line.invoice = charge.invoice = invoice  # with its primary key now
    return invoices, lines, pairs


def _receipts_number(invoices: list[Invoice], now: datetime) -> None:
    """Number the batch's receipts (not written yet), as the batch's last writes: the operator's sequence row
    stays locked from here to the commit, so racing batches wait for each other only that long (and in
    operator order)."""
    by_operator: dict[int, list[Invoice]] = defaultdict(list)
    for invoice in invoices:
        by_operator[invoice.operator_id].append(invoice)
    for operator_id in sorted(by_operator):
        numbered = by_operator[operator_id]
        taken = next_document_numbers(
            operator=numbered[0].operator, kind=Invoice.Kind.INVOICE, issued_at=now, count=len(numbered)
        )
        for invoice, number in zip(numbered, taken, strict=True):
            invoice.number = number


def _issue(invoice: Invoice, *, lines: list[InvoiceLine], now: datetime) -> bool:
    """Number, date and save ``invoice`` with its totals and the parties' details; start collecting it.

    While the issuer's legal details are incomplete the invoice is saved as a draft instead, without a
    number (an invoice naming no legal issuer is not a valid invoice); the operator's pages say so, and
    ``invoices_issue_waiting`` issues it once the details are complete. Answers whether it was issued.
    """
    from billing.services.payments import payment_create

    invoice_recalculate(invoice, lines)
    operator = invoice.operator
    missing = operator.missing_legal_details()
    if missing:
        invoice.status = Invoice.Status.DRAFT
        invoice.save()
        logger.warning(
            "invoice waits for the issuer's legal details",
            extra={"operator": operator.name, "missing": missing, "invoice_id": invoice.pk},
        )
        return False
    profile = profile_of(invoice.customer)
    invoice.number = next_document_number(operator=operator, kind=invoice.kind, issued_at=now)
    invoice.issued_at = now
    invoice.due_at = now + timedelta(days=operator.payment_terms_days)
    invoice.issuer = operator.issuer_snapshot()
    invoice.customer_details = _customer_details(invoice.customer, profile)
    if invoice.kind == Invoice.Kind.CREDIT_NOTE or invoice.gross_total > 0:
        invoice.status = Invoice.Status.OPEN
    else:
        invoice.status, invoice.paid_at = Invoice.Status.PAID, now
    invoice.save()
    if invoice.kind == Invoice.Kind.INVOICE and invoice.gross_total > 0:
        payment_create(invoice=invoice, method=profile.payment_method)
    return True


@transaction.atomic
def invoice_finalize(*, invoice: Invoice, at: datetime | None = None) -> Invoice:
    """Issue a draft: number it, freeze issuer and customer details, and start collecting payment."""
    invoice = Invoice.objects.select_for_update().select_related("operator", "customer").get(pk=invoice.pk)
    if invoice.status != Invoice.Status.DRAFT:
        return invoice
    _issue(invoice, lines=list(invoice.lines.all()), now=at or timezone.now())
    return invoice


def statements_issue_due(*, now: datetime | None = None) -> int:
    """Issue the monthly statements whose month is over; each in its own transaction."""
    now = now or timezone.now()
    due = Invoice.objects.filter(
        status=Invoice.Status.DRAFT, purpose=Invoice.Purpose.STATEMENT, period_end__lte=now
    ).values_list("pk", flat=True)
    count = 0
    for pk in list(due):
        if invoice_finalize(invoice=Invoice(pk=pk), at=now).status != Invoice.Status.DRAFT:
            count += 1
    return count + invoices_issue_waiting(now=now)


def invoices_issue_waiting(*, now: datetime | None = None) -> int:
    """Issue the receipts and credit notes that waited for their issuer's legal details, now complete."""
    now = now or timezone.now()
    complete = [operator for operator in Operator.objects.all() if not operator.missing_legal_details()]
    waiting = Invoice.objects.filter(status=Invoice.Status.DRAFT, operator__in=complete).exclude(
        purpose=Invoice.Purpose.STATEMENT
    )
    count = 0
    for pk in list(waiting.order_by("created_at", "pk").values_list("pk", flat=True)):
        if invoice_finalize(invoice=Invoice(pk=pk), at=now).status != Invoice.Status.DRAFT:
            count += 1
    if count:
        logger.info("waiting invoices issued", extra={"count": count})
    return count


@transaction.atomic
def invoice_credit(*, invoice: Invoice, reason: str, line_ids: list[int] | None = None) -> Invoice:
    """A credit note taking back ``line_ids`` (all lines not yet credited when None) of an issued invoice.

    Unpaid: what is due shrinks (and the payment is cancelled when nothing is left). Paid: the money is
    refunded through the method that paid it.
    """
    from billing.services.payments import payment_refund

    original = Invoice.objects.select_for_update().select_related("operator").get(pk=invoice.pk)
    if original.kind != Invoice.Kind.INVOICE or original.status == Invoice.Status.DRAFT:
        raise ValidationError("Only an issued invoice can be credited.")
    if not reason.strip():
        raise ValidationError("Give the reason for the credit note.")
    missing = original.operator.missing_legal_details()
    if missing:
        raise ValidationError(f"Complete the issuer's {', '.join(missing)} before issuing a credit note.")
    lines = original.lines.filter(credit_line__isnull=True)
    if line_ids is not None:
        lines = lines.filter(pk__in=line_ids)
    lines = list(lines)
    if not lines:
        raise ValidationError("Nothing left to credit on this invoice.")

    note = Invoice.objects.create(
        operator=original.operator,
        customer_id=original.customer_id,
        kind=Invoice.Kind.CREDIT_NOTE,
        purpose=Invoice.Purpose.CREDIT,
        currency=original.currency,
        credited_invoice=original,
        reason=reason,
    )
    InvoiceLine.objects.bulk_create(
        [
            InvoiceLine(
                invoice=note,
                position=index,
                description=f"Credit: {line.description}"[:255],
                detail=line.detail,
                quantity=line.quantity,
                unit=line.unit,
                unit_price=-line.unit_price,
                net_amount=-line.net_amount,
                tax_rate=line.tax_rate,
                session_charge=line.session_charge,
                is_credit=True,
                credits_line=line,
            )
            for index, line in enumerate(lines, start=1)
        ]
    )
    note = invoice_finalize(invoice=note)

    remaining = original.gross_total + (
        original.credit_notes.exclude(status=Invoice.Status.DRAFT).aggregate(total=Sum("gross_total"))["total"] or ZERO
    )
    payment = Payment.objects.select_for_update().filter(invoice=original).first()
    if original.status == Invoice.Status.PAID and payment is not None and payment.status == Payment.Status.SUCCEEDED:
        refund = Refund.objects.create(payment=payment, credit_note=note, amount=-note.gross_total)
        if payment_refund(refund=refund):
            note.status = Invoice.Status.PAID
            note.paid_at = timezone.now()
    else:
        # Not paid yet: the credit settles itself against what was due.
        note.status = Invoice.Status.PAID
        note.paid_at = timezone.now()
        if payment is not None and payment.status != Payment.Status.SUCCEEDED:
            payment.amount = remaining
            if remaining <= 0:
                payment.status = Payment.Status.CANCELLED
                payment.next_retry_at = None
            payment.save(update_fields=["amount", "status", "next_retry_at", "updated_at"])
        if remaining <= 0:
            original.status = Invoice.Status.CREDITED
            original.save(update_fields=["status", "updated_at"])
    note.save(update_fields=["status", "paid_at", "updated_at"])
    return note
