"""Invoices and credit notes as PDF (ReportLab), drawn from the stored, immutable invoice rows."""

from datetime import timedelta
from decimal import Decimal
from io import BytesIO
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from billing.models import Invoice
from billing.money import format_money


def _paragraph(text: str, style) -> Paragraph:
    return Paragraph(escape(text or "").replace("\n", "<br/>"), style)


def invoice_pdf(invoice: Invoice) -> bytes:
    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=8, leading=10, textColor=colors.HexColor("#555555"))
    zone = ZoneInfo(invoice.operator.timezone)
    currency = invoice.currency
    issuer, customer = invoice.issuer, invoice.customer_details
    title = "Credit note" if invoice.is_credit_note else "Invoice"

    story = [
        Paragraph(f"{title} {escape(invoice.number or 'DRAFT')}", styles["Title"]),
        Table(
            [
                [
                    _paragraph(
                        "\n".join(
                            filter(
                                None,
                                [
                                    issuer.get("legal_name"),
                                    issuer.get("address"),
                                    f"VAT id {issuer['vat_id']}" if issuer.get("vat_id") else "",
                                    issuer.get("email"),
                                ],
                            )
                        ),
                        styles["BodyText"],
                    ),
                    _paragraph(
                        "\n".join(
                            filter(
                                None,
                                [
                                    "Bill to:",
                                    customer.get("name"),
                                    customer.get("address"),
                                    # The name falls back to the e-mail address: print it once.
                                    customer.get("email") if customer.get("email") != customer.get("name") else "",
                                    f"VAT id {customer['vat_id']}" if customer.get("vat_id") else "",
                                ],
                            )
                        ),
                        styles["BodyText"],
                    ),
                ]
            ],
            colWidths=[90 * mm, 80 * mm],
        ),
        Spacer(1, 6 * mm),
    ]
    facts = [["Issued", invoice.issued_at.astimezone(zone).strftime("%Y-%m-%d") if invoice.issued_at else "-"]]
    if invoice.period_start and invoice.period_end:
        facts.append(
            [
                "Period",
                # The period's end is exclusive (midnight after its last day).
                f"{invoice.period_start.astimezone(zone):%Y-%m-%d} to "
                f"{(invoice.period_end - timedelta(seconds=1)).astimezone(zone):%Y-%m-%d}",
            ]
        )
    if invoice.credited_invoice_id:
        facts.append(["Credits invoice", invoice.credited_invoice.number or ""])
        facts.append(["Reason", invoice.reason])
    elif invoice.due_at:
        facts.append(["Due", invoice.due_at.astimezone(zone).strftime("%Y-%m-%d")])
    facts.append(["Status", invoice.get_status_display()])
    story += [Table(facts, colWidths=[35 * mm, 135 * mm], hAlign="LEFT"), Spacer(1, 6 * mm)]

    rows = [["#", "Description", "Qty", "Unit price", "Tax", "Net"]]
    for line in invoice.lines.all():
        description = [_paragraph(line.description, styles["BodyText"])]
        if line.detail:
            description.append(_paragraph(line.detail, small))
        rows.append(
            [
                str(line.position),
                description,
                f"{line.quantity.normalize():f} {line.unit}",
                format_money(line.unit_price, currency),
                f"{line.tax_rate.normalize():f} %",
                format_money(line.net_amount, currency),
            ]
        )
    table = Table(rows, colWidths=[8 * mm, 82 * mm, 20 * mm, 24 * mm, 14 * mm, 24 * mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (2, 0), (-1, -1), "RIGHT"),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#cccccc")),
            ]
        )
    )
    story += [table, Spacer(1, 6 * mm)]

    totals = [["Net total", format_money(invoice.net_total, currency)]]
    for row in invoice.tax_breakdown:
        totals.append(
            [
                f"Tax {row['rate']} % on {format_money(Decimal(row['net']), currency)}",
                format_money(Decimal(row["tax"]), currency),
            ]
        )
    totals.append(["Total", format_money(invoice.gross_total, currency)])
    summary = Table(totals, colWidths=[70 * mm, 30 * mm], hAlign="RIGHT")
    summary.setStyle(
        TableStyle(
            [
                ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
                ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black),
            ]
        )
    )
    story.append(summary)

    buffer = BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"{title} {invoice.number or ''}",
        author=issuer.get("legal_name", ""),
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
    )
    document.build(story)
    return buffer.getvalue()
