"""The money side of analytics, read from the billing app: revenue, payments, unpaid invoices, session costs.

Revenue is what priced sessions earned (``SessionCharge``, billable ones, on the day the session
started); collected money is what payments brought in (succeeded ``Payment`` less refunds, on the day
they succeeded); unpaid invoices are those awaiting payment or given up on. Amounts are per currency:
a network that bills in two currencies gets two rows, never a sum of both.
"""

from functools import cache

from django.db import connection

from analytics import rollups
from analytics.db import fetch
from analytics.filters import Filters
from analytics.tables import Column, Dashboard, Kpi, Table


def _models():
    from billing.models import Invoice, Payment, SessionCharge, Tariff

    return SessionCharge, Invoice, Payment, Tariff


def table(name: str) -> str:
    session_charge, invoice, payment, tariff = _models()
    return {
        "charge": session_charge,
        "invoice": invoice,
        "payment": payment,
        "tariff": tariff,
    }[name]._meta.db_table


@cache
def available() -> bool:
    """Whether the billing app's tables are there to read (the money dashboard and costs need them)."""
    try:
        charges = table("charge")
    except (ImportError, LookupError):
        return False
    return charges in connection.introspection.table_names()


def currency() -> str:
    from billing.app_settings import app_settings

    return app_settings.CURRENCY


def tariff_choices() -> list[tuple[int, str]]:
    *_, tariff = _models()
    return [(t.pk, str(t)) for t in tariff.objects.order_by("name", "-valid_from")]


def _revenue_rollup(params: dict) -> tuple[str, str]:
    """The revenue rollup to read (the network's days, or the stations' days of a scope) and its scope clause."""
    if params["station_ids"] is None:
        return rollups.TABLES["nrday"], ""
    return rollups.TABLES["rday"], " AND r.station_id = ANY(%(station_ids)s)"


def usage_totals_by_tariff_sql(grain: str, params: dict) -> str:
    """The usage totals of one tariff's priced sessions, from the revenue rollup; energy counts on the start day."""
    source, scope = _revenue_rollup(params)
    return f"""
        SELECT date_trunc('{grain}', r.day)::date AS period, sum(r.sessions) AS sessions, sum(r.energy_wh) AS energy_wh,
               sum(r.energy_wh) AS session_energy_wh, sum(r.sessions) AS completed, sum(r.session_s) AS session_s
        FROM {source} r
        WHERE r.day BETWEEN %(start)s AND %(end)s AND r.tariff_id = %(tariff_id)s{scope} GROUP BY 1"""


def tariff_sessions_sql(select: str, params: dict) -> str:
    """``select`` over one tariff's priced sessions started in the range (alias ``sc``), scoped to the stations."""
    scope = ""
    if params["station_ids"] is not None:
        scope = f" AND sc.transaction_id IN (SELECT id FROM {_tx()} WHERE station_id = ANY(%(station_ids)s))"
    return f"""SELECT {select} FROM {table("charge")} sc
        WHERE sc.tariff_id = %(tariff_id)s AND sc.session_started_at >= %(lo)s AND sc.session_started_at < %(hi)s
        {scope}"""


def _tx() -> str:
    from sessions.models import Transaction

    return Transaction._meta.db_table


def session_cost_sql(alias: str) -> str:
    """The gross price of a session (NULL until it is priced, or without billing)."""
    if not available():
        return "NULL::numeric"
    return f"(SELECT sc.gross_amount FROM {table('charge')} sc WHERE sc.transaction_id = {alias}.id)"


def money_dashboard(filters: Filters, full: bool = True) -> Dashboard:
    """Revenue from the revenue rollup; payments and unpaid invoices from billing's own tables."""
    params = filters.params()
    source, scope = _revenue_rollup(params)
    tariff = " AND r.tariff_id = %(tariff_id)s" if filters.tariff_id else ""
    revenue = f"""FROM {source} r WHERE r.day BETWEEN %(start)s AND %(end)s{scope}{tariff}"""
    dashboard = Dashboard()
    dashboard.add(
        Table(
            "daily",
            "Revenue per day",
            [
                Column("day", "Day", "date"),
                Column("currency", "Currency"),
                Column("sessions", "Billed sessions", "int"),
                Column("net", "Net", "number"),
                Column("gross", "Gross", "number"),
            ],
            fetch(
                f"""SELECT r.day, r.currency, sum(r.billable_sessions), sum(r.net_amount), sum(r.gross_amount) {revenue}
            GROUP BY 1, 2 HAVING sum(r.billable_sessions) > 0 ORDER BY 1, 2""",
                params,
            ),
        )
    )
    dashboard.add(
        Table(
            "tariffs",
            "Revenue by tariff",
            [
                Column("tariff", "Tariff"),
                Column("currency", "Currency"),
                Column("sessions", "Billed sessions", "int"),
                Column("energy_kwh", "Energy (kWh)", "number"),
                Column("net", "Net", "number"),
                Column("gross", "Gross", "number"),
            ],
            fetch(
                f"""SELECT coalesce(tf.name, '(no tariff)'), x.currency, x.sessions, round(x.wh / 1000, 3),
                   x.net, x.gross
            FROM (SELECT r.tariff_id, r.currency, sum(r.billable_sessions) AS sessions, sum(r.energy_wh) AS wh,
                         sum(r.net_amount) AS net, sum(r.gross_amount) AS gross {revenue}
                  GROUP BY 1, 2 HAVING sum(r.billable_sessions) > 0) x
            LEFT JOIN {table("tariff")} tf ON tf.id = x.tariff_id ORDER BY x.gross DESC, 1""",
                params,
            ),
        )
    )
    totals = fetch(f"SELECT r.currency, sum(r.net_amount), sum(r.gross_amount) {revenue} GROUP BY 1 ORDER BY 1", params)
    # Payments follow invoices, not stations: the station and tariff filters do not apply to them.
    dashboard.add(
        Table(
            "methods",
            "Collected by payment method",
            [
                Column("method", "Payment method"),
                Column("currency", "Currency"),
                Column("payments", "Payments", "int"),
                Column("collected", "Collected", "number"),
                Column("refunded", "Refunded", "number"),
                Column("net_collected", "Net collected", "number"),
            ],
            fetch(
                f"""SELECT p.method, p.currency, count(*), sum(p.amount), sum(p.refunded_amount),
                   sum(p.amount - p.refunded_amount)
            FROM {table("payment")} p
            WHERE p.status = 'succeeded' AND p.succeeded_at >= %(lo)s AND p.succeeded_at < %(hi)s
            GROUP BY 1, 2 ORDER BY 1, 2""",
                params,
            ),
        )
    )
    unpaid_where = f"""FROM {table("invoice")} i WHERE i.status IN ('open', 'uncollectible') AND i.kind = 'invoice'"""
    outstanding = dict(fetch(f"SELECT i.currency, sum(i.gross_total) {unpaid_where} GROUP BY 1", {}))
    unpaid_count = sum(n for (n,) in fetch(f"SELECT count(*) {unpaid_where}", {}))
    unpaid = fetch(
        f"""
        SELECT coalesce(i.number, ''), u.email, i.status, i.issued_at, i.due_at, i.currency, i.gross_total,
               coalesce(p.status, ''), coalesce(p.attempts, 0),
               greatest(0, (%(hi)s::date - coalesce(i.due_at, i.issued_at)::date))
        FROM {table("invoice")} i JOIN accounts_user u ON u.id = i.customer_id
        LEFT JOIN {table("payment")} p ON p.invoice_id = i.id
        WHERE i.status IN ('open', 'uncollectible') AND i.kind = 'invoice'
        ORDER BY coalesce(i.due_at, i.issued_at), i.id {"" if full else "LIMIT 50"}""",
        params,
    )
    dashboard.add(
        Table(
            "unpaid",
            "Unpaid invoices",
            [
                Column("number", "Invoice"),
                Column("customer", "Customer"),
                Column("status", "Status"),
                Column("issued_at", "Issued", "datetime"),
                Column("due_at", "Due", "datetime"),
                Column("currency", "Currency"),
                Column("amount", "Amount", "number"),
                Column("payment_status", "Payment"),
                Column("attempts", "Attempts", "int"),
                Column("days_overdue", "Days overdue", "int"),
            ],
            unpaid,
            50,
            unpaid_count,
        )
    )
    dashboard.kpis = [
        Kpi("revenue_gross", "Revenue (gross)", _per_currency({c: g for c, _, g in totals})),
        Kpi("revenue_net", "Revenue (net)", _per_currency({c: n for c, n, _ in totals})),
        Kpi("unpaid_invoices", "Unpaid invoices", unpaid_count),
        Kpi("outstanding", "Outstanding", _per_currency(outstanding)),
    ]
    return dashboard


def _per_currency(amounts: dict) -> str:
    return ", ".join(f"{amount:,.2f} {code}" for code, amount in sorted(amounts.items())) or "0"
