"""VAT ids checked by country (format and check digits) with python-stdnum: EU ids as VIES takes them, other
countries through the library's module for that country, where it has one."""

from django.core.exceptions import ValidationError
from stdnum import get_cc_module
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as NumberError

EXAMPLE = "DE136695976"


def vat_id_clean(value: str) -> str:
    """The compact form of a VAT id with its country code (``de 136 695 976`` → ``DE136695976``); empty stays empty.

    ValidationError with a message for the person typing it when it cannot be right for its country.
    """
    number = "".join((value or "").split()).upper()
    if not number:
        return ""
    country = number[:2]
    if not country.isalpha():
        raise ValidationError(f"Start the VAT id with its two-letter country code, e.g. {EXAMPLE}.")
    if country.lower() in eu_vat.MEMBER_STATES or country == "EL":
        module = eu_vat
    else:
        module = get_cc_module(country.lower(), "vat")
        if module is None:
            raise ValidationError(f"VAT ids of country {country} cannot be checked here: leave it empty.")
    for candidate in (number, number[2:]):  # a country's own module may want the number without its code
        try:
            compact = module.validate(candidate)
        except NumberError:
            continue
        return compact if compact.startswith(country) else country + compact
    raise ValidationError(f"This is not a valid {country} VAT id: check its digits (e.g. {EXAMPLE}).")
