"""Reading an operator's CSV file of ID tokens (bulk card issue) into checked rows, with an error per bad line.

The first row names the columns: ``token`` (required), ``type``, ``status``, ``expiry``, ``parent``,
``owner`` (a user's e-mail address), ``label`` and ``activation_code`` (printed on the card, kept only as a
hash: a driver adding the card must type it), in any order; comma, semicolon or tab separated, as
spreadsheets save them. An empty cell leaves that field as it is (or at its default for a new token).
"""

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.dateparse import parse_date, parse_datetime

from accounts.app_settings import app_settings
from accounts.models import IdToken, id_token_validator, normalize_token

COLUMNS = ("token", "type", "status", "expiry", "parent", "owner", "label", "activation_code")
ALIASES = {
    "idtag": "token",
    "id_tag": "token",
    "id token": "token",
    "idtoken": "token",
    "number": "token",
    "expires_at": "expiry",
    "expiry_date": "expiry",
    "expirydate": "expiry",
    "expires": "expiry",
    "parent_id": "parent",
    "parentidtag": "parent",
    "parent_id_tag": "parent",
    "group": "parent",
    "email": "owner",
    "owner_email": "owner",
    "code": "activation_code",
    "activation code": "activation_code",
}
STATUS_ALIASES = {"active": IdToken.Status.ACCEPTED}
LABEL_MAX_LENGTH = IdToken._meta.get_field("label").max_length


@dataclass
class TokenRow:
    line: int
    token: str
    values: dict = field(default_factory=dict)  # column -> checked value, for the non-empty cells only


def decode_csv(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError("The file is not UTF-8 text: save it from your spreadsheet as CSV UTF-8.") from exc


def parse_expiry(text: str) -> datetime:
    """An aware UTC datetime from ISO 8601; a bare date means the card is valid through that whole day (UTC)."""
    text = text.strip()
    try:
        # A bare date first: parse_datetime would take it as that day's midnight.
        day = parse_date(text) if len(text) == 10 else None
        moment = datetime.combine(day + timedelta(days=1), time.min) if day else parse_datetime(text)
    except ValueError:
        moment = None
    if moment is None:
        raise ValueError(f"expiry {text!r} is not a date (2027-12-31) or a date and time (2027-12-31T18:00:00Z)")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _choice(text: str, choices, what: str) -> str:
    wanted = text.strip().lower()
    for value in choices:
        if value.lower() == wanted:
            return value
    raise ValueError(f"{what} {text!r} is not one of {', '.join(choices)}")


def _check_cell(column: str, text: str):
    if column == "type":
        return _choice(text, IdToken.Type.values, "type")
    if column == "status":
        return STATUS_ALIASES.get(text.lower()) or _choice(text, IdToken.Status.values, "status")
    if column == "expiry":
        return parse_expiry(text)
    if column == "parent":
        parent = normalize_token(text)
        try:
            id_token_validator(parent)
        except ValidationError as exc:
            raise ValueError(f"parent {text!r}: {exc.messages[0]}") from exc
        return parent
    if column == "owner":
        try:
            validate_email(text)
        except ValidationError as exc:
            raise ValueError(f"owner {text!r} is not an e-mail address") from exc
        return text.lower()
    if column == "activation_code":
        code = "".join(text.split()).replace("-", "").upper()
        if not re.fullmatch(r"[0-9A-Z]{4,32}", code):
            raise ValueError("activation_code must be 4 to 32 letters and digits")
        return code
    if len(text) > LABEL_MAX_LENGTH:
        raise ValueError(f"label is longer than {LABEL_MAX_LENGTH} characters")
    return text


def _header(record: list[str]) -> tuple[list[str], list[str]]:
    columns = [ALIASES.get(cell.strip().lower(), cell.strip().lower()) for cell in record]
    errors = []
    unknown = [cell for cell, column in zip(record, columns, strict=True) if column not in COLUMNS]
    if unknown:
        names = ", ".join(map(repr, unknown))
        errors.append(f"line 1: unknown column(s) {names}; the columns are {', '.join(COLUMNS)}")
    if "token" not in columns:
        errors.append("line 1: a 'token' column is required")
    repeated = sorted({column for column in columns if columns.count(column) > 1})
    if repeated:
        errors.append(f"line 1: column(s) {', '.join(repeated)} appear more than once")
    return columns, errors


def read_token_rows(text: str) -> tuple[list[TokenRow], list[str]]:
    """The checked rows of the file, and the errors (``line N: ...``); rows are good only if errors is empty."""
    if not text.strip():
        return [], ["The file is empty."]
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    columns, errors = _header(next(reader))
    if errors:
        return [], errors
    rows: list[TokenRow] = []
    first_line: dict[str, int] = {}
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) >= app_settings.IDTOKEN_IMPORT_MAX_ROWS:
                errors.append(f"The file has more than {app_settings.IDTOKEN_IMPORT_MAX_ROWS} rows; split it.")
                break
            if len(record) > len(columns):
                errors.append(f"line {line}: {len(record)} cells but {len(columns)} columns")
                continue
            cells = {column: cell.strip() for column, cell in zip(columns, record, strict=False)}
            row = TokenRow(line=line, token=normalize_token(cells.pop("token", "")))
            try:
                id_token_validator(row.token)
            except ValidationError as exc:
                errors.append(f"line {line}: token {row.token!r}: {exc.messages[0]}")
                continue
            if row.token in first_line:
                errors.append(f"line {line}: token {row.token} appears again (first on line {first_line[row.token]})")
                continue
            first_line[row.token] = line
            for column, text in cells.items():
                if text:
                    try:
                        row.values[column] = _check_cell(column, text)
                    except ValueError as exc:
                        errors.append(f"line {line}: {exc}")
            if row.values.get("parent") == row.token:
                errors.append(f"line {line}: token {row.token} cannot be its own group")
            rows.append(row)
    except csv.Error as exc:
        errors.append(f"line {reader.line_num}: not valid CSV ({exc})")
    if not rows and not errors:
        errors.append("The file has no tokens below its header line.")
    return rows, errors
