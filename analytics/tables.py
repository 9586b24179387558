"""The shape every dashboard returns: KPIs and the tables behind its charts, which the CSV/XLSX export writes as is."""

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # text, int, number, percent, date, datetime


@dataclass
class Table:
    key: str
    title: str
    columns: list[Column]
    rows: list[tuple]
    # The page shows the first rows of a long table; the export always has all of them.
    preview: int | None = None
    # How many rows there are when ``rows`` holds only the preview (a dashboard built for the page).
    total: int | None = None

    def column(self, key: str) -> list:
        index = [c.key for c in self.columns].index(key)
        return [row[index] for row in self.rows]

    def dicts(self) -> list[dict]:
        keys = [c.key for c in self.columns]
        return [dict(zip(keys, row, strict=True)) for row in self.rows]

    @property
    def shown_rows(self) -> list[tuple]:
        return self.rows if self.preview is None else self.rows[: self.preview]

    @property
    def row_count(self) -> int:
        return len(self.rows) if self.total is None else self.total

    @property
    def is_truncated(self) -> bool:
        return self.preview is not None and self.row_count > self.preview


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    value: object
    unit: str = ""


@dataclass
class Dashboard:
    kpis: list[Kpi] = field(default_factory=list)
    tables: dict[str, Table] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, table: Table) -> Table:
        self.tables[table.key] = table
        return table

    def kpi(self, key: str):
        return next(k.value for k in self.kpis if k.key == key)


def _plain(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if value is None:
        return ""
    return value


def table_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.label for c in table.columns])
    for row in table.rows:
        writer.writerow([_plain(v) for v in row])
    return out.getvalue()


def table_xlsx(table: Table) -> bytes:
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "remove_timezone": True})
    sheet = book.add_worksheet(table.title[:31])
    bold = book.add_format({"bold": True})
    formats = {
        "date": book.add_format({"num_format": "yyyy-mm-dd"}),
        "datetime": book.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
    }
    for col, column in enumerate(table.columns):
        sheet.write(0, col, column.label, bold)
        sheet.set_column(col, col, max(10, len(column.label) + 2))
    for r, row in enumerate(table.rows, start=1):
        for col, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, Decimal):
                sheet.write_number(r, col, float(value))
            elif isinstance(value, datetime):
                sheet.write_datetime(r, col, timezone.localtime(value), formats["datetime"])
            elif isinstance(value, date):
                sheet.write_datetime(r, col, datetime.combine(value, datetime.min.time()), formats["date"])
            else:
                sheet.write(r, col, value)
    book.close()
    return out.getvalue()
