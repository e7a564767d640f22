"""Exact conversion between Blnk's ``amount`` + ``precision`` and integer minor units.

Rules (one place):
- ``precision`` is a positive whole number (Blnk treats 0 as 1); it is the multiplier from major
  to minor units (100 for cents).
- ``precise_amount`` is an integer (any size) of minor units and wins when given.
- ``amount`` is converted through ``Decimal(str(amount))``: ``amount * precision`` must be a whole
  number. A value that is not exact at that precision is refused, never rounded. (A float's usual
  case does the same arithmetic in integers, ``_float_minor``: same answers, a quarter of the time.)
- A float with more than 15 significant digits cannot be trusted to be what the caller typed; such
  amounts must be sent as ``precise_amount``.
- Arithmetic is exact whatever the size of the numbers (no 28-digit ``Decimal`` context rounding).
- Limits: an amount is at most ``MAX_MINOR_UNITS`` (38 digits of minor units, the widest exact
  integer most ledgers and databases hold); ``precision`` is at most ``MAX_PRECISION`` (a 64-bit
  integer, as Blnk stores it). Larger values are refused, not truncated.
"""

from __future__ import annotations

import math
import re
from decimal import MAX_EMAX, MIN_EMIN, Decimal, InvalidOperation, localcontext

from tally.core.errors import InvalidAmount, PrecisionNotInteger, TransactionInvalid

MAX_FLOAT_DIGITS = 15
MAX_MINOR_DIGITS = 38
MAX_MINOR_UNITS = 10**MAX_MINOR_DIGITS - 1
MAX_PRECISION = 2**63 - 1
_WHOLE = re.compile(r"^\s*-?[0-9]+\s*$")


def parse_precision(value: object) -> int:
    if value is None:
        return 1
    if isinstance(value, bool):
        raise PrecisionNotInteger("precision must be a whole number, not a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise PrecisionNotInteger(f"precision must be a whole number; got {value}")
        if abs(value) > MAX_PRECISION:
            raise PrecisionNotInteger(f"precision must be at most {MAX_PRECISION}; got {value}")
        number = int(value)
    elif isinstance(value, str) and _WHOLE.match(value):
        number = int(value)
    else:
        raise PrecisionNotInteger(f"precision must be a whole number; got {value!r}")
    if number < 0:
        raise PrecisionNotInteger(f"precision cannot be negative; got {number}")
    if number > MAX_PRECISION:
        raise PrecisionNotInteger(f"precision must be at most {MAX_PRECISION}; got {number}")
    return number or 1


def parse_precise_amount(value: object, *, field: str = "precise_amount") -> int:
    """An integer number of minor units, from a JSON integer or a string of digits."""
    if isinstance(value, bool):
        raise InvalidAmount(f"{field} must be a whole number of minor units")
    digits = isinstance(value, str) and _WHOLE.match(value) and len(value) <= 2 * MAX_MINOR_DIGITS
    whole_float = isinstance(value, float) and value.is_integer() and abs(value) < 2**53
    if isinstance(value, int):
        number = value
    elif isinstance(value, str | float) and (digits or whole_float):
        number = int(value)
    else:
        raise InvalidAmount(f"{field} must be a whole number of minor units; got {value!r}")
    if number <= 0:
        raise InvalidAmount(f"{field} must be positive; got {number}")
    check_size(number, field=field)
    return number


def check_size(minor: int | Decimal, *, field: str = "amount") -> None:
    """Refuse an amount beyond ``MAX_MINOR_UNITS`` (checked before any conversion to ``int``)."""
    if minor > MAX_MINOR_UNITS or minor < -MAX_MINOR_UNITS:
        raise InvalidAmount(
            f"{field} is too large: at most {MAX_MINOR_DIGITS} digits of minor units are allowed",
            details={"field": field, "max_digits": MAX_MINOR_DIGITS},
        )


def to_decimal(value: object, *, field: str = "amount") -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InvalidAmount(f"{field} must be a number; got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidAmount(f"{field} must be a finite number")
        text = repr(value)
        digits = Decimal(text).as_tuple().digits
        if len(digits) > MAX_FLOAT_DIGITS:
            raise InvalidAmount(
                f"{field} {text} has more than {MAX_FLOAT_DIGITS} significant digits; "
                "send precise_amount (minor units) instead"
            )
        return Decimal(text)
    if isinstance(value, int):
        return Decimal(value)
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise InvalidAmount(f"{field} must be a number; got {value!r}") from None
    if not number.is_finite():
        raise InvalidAmount(f"{field} must be a finite number")
    return number


def to_minor(value: object, precision: int, *, field: str = "amount") -> int:
    """``value`` (major units) times ``precision``, exactly, as an integer; refuses inexact ones."""
    if type(value) is float:
        minor = _float_minor(value, precision)
        if minor is not None:
            return minor
    return _decimal_minor(value, precision, field=field)


def _float_minor(value: float, precision: int) -> int | None:
    """``to_minor`` of a float in integers, or None where only the Decimal way answers (an
    exponent, too many digits, an inexact or too large result: it raises the error).

    The float's shortest text (``repr``, what ``Decimal(str(amount))`` reads) is ``D / 10**k``
    exactly; times ``precision`` it is whole when ``D * precision`` divides by ``10**k``."""
    text = repr(value)
    if "e" in text or "n" in text:  # 1e-05, inf, nan
        return None
    negative = text[0] == "-"
    whole, _, frac = (text[1:] if negative else text).partition(".")
    digits = whole + frac
    if len(digits.lstrip("0")) > MAX_FLOAT_DIGITS:
        return None
    scale: int = 10 ** len(frac)
    scaled, rest = divmod(int(digits) * precision, scale)
    if rest or scaled > MAX_MINOR_UNITS:
        return None
    return -scaled if negative else scaled


def _decimal_minor(value: object, precision: int, *, field: str) -> int:
    number = to_decimal(value, field=field)
    check_size(number, field=field)
    with localcontext() as context:
        context.prec = len(number.as_tuple().digits) + len(str(precision)) + 2
        context.Emax, context.Emin = MAX_EMAX, MIN_EMIN
        scaled = number * precision
    check_size(scaled, field=field)
    if scaled != scaled.to_integral_value():
        raise InvalidAmount(
            f"{field} {value} is not exact at precision {precision}: {number} x {precision} = "
            f"{scaled} is not a whole number of minor units; send precise_amount instead"
        )
    return int(scaled)


def resolve_amount(amount: object, precise_amount: object, precision: int) -> int:
    """The positive minor-unit amount of a request that carries ``amount`` or ``precise_amount``."""
    has_precise = precise_amount is not None and precise_amount != 0
    has_amount = amount is not None and amount != 0
    if has_precise and has_amount:
        raise TransactionInvalid("either amount or precise_amount should be provided, not both")
    if has_precise:
        return parse_precise_amount(precise_amount)
    if not has_amount:
        raise TransactionInvalid("either amount or precise_amount is required")
    minor = to_minor(amount, precision)
    if minor <= 0:
        raise InvalidAmount(f"transaction amount must be positive; got {amount}")
    return minor


_POWERS_OF_TEN = {10**n: n for n in range(0, 19)}


def to_major(minor: int, precision: int) -> Decimal:
    """Minor units back to a major-unit Decimal: exact whenever the decimal terminates."""
    if precision == 1:
        return Decimal(minor)
    with localcontext() as context:
        context.prec = max(28, len(str(abs(minor))) + 4 * len(str(precision)) + 1)
        return Decimal(minor) / Decimal(precision)


def major_number(minor: int, precision: int) -> int | float:
    """The ``amount`` field as Blnk renders it: a JSON number (an int when whole).

    Integer arithmetic: ``minor / precision`` on two ints is the correctly rounded float of the
    exact quotient (no Decimal, which is slow to set up per call)."""
    if precision <= 0:
        raise InvalidAmount(f"precision must be positive; got {precision}")
    if minor % precision == 0:
        return minor // precision
    try:
        return minor / precision
    except OverflowError:  # beyond a double's range, as a JSON number can only say
        return math.inf if minor > 0 else -math.inf


def major_string(minor: int, precision: int) -> str:
    """The exact decimal string of an amount (Blnk's ``amount_string``)."""
    digits = _POWERS_OF_TEN.get(precision)
    if digits is not None:  # the usual case, in integers: 1, 10, 100 ... minor units
        whole, part = divmod(abs(minor), precision)
        sign = "-" if minor < 0 else ""
        if not part:
            return f"{sign}{whole}"
        return f"{sign}{whole}.{part:0{digits}d}".rstrip("0")
    value = to_major(minor, precision)
    if not value:
        return "0"
    with localcontext() as context:
        context.prec = len(value.as_tuple().digits)
        return format(value.normalize(), "f")
