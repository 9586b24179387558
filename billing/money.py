"""Money arithmetic: Decimal only, each currency's minor unit, and the one rounding rule of the billing app.

The rule (what an accountant expects): every price component is computed at full precision and never
rounded on its own; a session's net price is rounded once, half up, to the currency's minor unit; tax is
computed on a rounded net amount and rounded once the same way. On an invoice the tax is computed per tax
rate on the sum of that rate's (already rounded) line amounts, not line by line, so the totals a reader
adds up on paper are the totals we store.
"""

from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal("0")
HUNDRED = Decimal("100")
WH_PER_KWH = Decimal("1000")

# ISO 4217 currencies whose minor unit is not the cent; everything else has two decimals.
_MINOR_UNITS = {
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
}


def minor_unit_digits(currency: str) -> int:
    return _MINOR_UNITS.get(currency.upper(), 2)


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_unit_digits(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half up (commercial rounding) to the currency's minor unit."""
    return Decimal(amount).quantize(quantum(currency), rounding=ROUND_HALF_UP)


def tax_of(net: Decimal, rate_percent: Decimal, currency: str) -> Decimal:
    """The tax on a net amount at ``rate_percent`` (19 for 19 %), rounded once."""
    return round_money(net * rate_percent / HUNDRED, currency)


def to_minor_units(amount: Decimal, currency: str) -> int:
    """The integer amount payment providers expect (cents for EUR, yen for JPY)."""
    return int(round_money(amount, currency).scaleb(minor_unit_digits(currency)))


def from_minor_units(amount: int, currency: str) -> Decimal:
    return Decimal(amount).scaleb(-minor_unit_digits(currency))


def format_money(amount: Decimal | None, currency: str) -> str:
    if amount is None:
        return ""
    return f"{round_money(amount, currency):,} {currency.upper()}"
