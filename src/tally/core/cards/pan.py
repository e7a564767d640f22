"""Card numbers (PANs): checking, brand, truncation and keyed fingerprints. Never store a PAN.

- A number is digits only (spaces and dashes are removed), 12 to 19 long, and passes the Luhn check.
- The brand comes from the issuer identification number (IIN) ranges below; a number that matches
  no known brand, or has a length its brand does not issue, is refused.
- What may be kept: brand, first six, last four, expiry, and the fingerprint
  ``fp1_`` + HMAC-SHA256(key, PAN) (PCI DSS 3.5.1.1: a keyed hash of the entire PAN). The version
  prefix lets the key be rotated later.
- Expiry: a card is valid through the last day of its expiry month (UTC).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import CardFieldInvalid, CardKeyNotConfigured

FINGERPRINT_VERSION = "fp1"
KEY_BYTES = 32

# (brand, IIN prefix ranges as (low, high) over the first N digits, allowed lengths)
_BRANDS: list[tuple[str, list[tuple[int, int]], set[int]]] = [
    ("amex", [(34, 34), (37, 37)], {15}),
    ("diners", [(300, 305), (36, 36), (38, 39)], {14, 15, 16, 17, 18, 19}),
    ("jcb", [(3528, 3589)], {16, 17, 18, 19}),
    ("visa", [(4, 4)], {13, 16, 19}),
    ("mastercard", [(51, 55), (2221, 2720)], {16}),
    ("discover", [(6011, 6011), (644, 649), (65, 65), (622126, 622925)], {16, 17, 18, 19}),
    ("unionpay", [(62, 62), (81, 81)], {16, 17, 18, 19}),
    ("maestro", [(50, 50), (56, 58), (6, 6)], {12, 13, 14, 15, 16, 17, 18, 19}),
]
_SEPARATORS = re.compile(r"[\s-]")


class InvalidCardNumber(CardFieldInvalid):
    """The card number is not a plausible PAN (not digits, wrong length, fails the Luhn check)."""

    code = "CARD_INVALID_NUMBER"


class UnsupportedBrand(CardFieldInvalid):
    """The card number belongs to no supported card brand."""

    code = "CARD_UNSUPPORTED_BRAND"


class CardExpired(CardFieldInvalid):
    """The expiry is not a valid month, or the card has already expired."""

    code = "CARD_EXPIRED"


@dataclass(frozen=True, slots=True)
class Truncated:
    """Everything Tally keeps about a card number."""

    brand: str
    first6: str
    last4: str


def normalize(number: Any) -> str:
    """The digits of a card number. The error never repeats the number."""
    if isinstance(number, int) and not isinstance(number, bool):
        number = str(number)
    if not isinstance(number, str):
        raise InvalidCardNumber(
            "number must be the card number as a string of digits", details={"field": "number"}
        )
    digits = _SEPARATORS.sub("", number)
    if not digits.isdigit() or not digits.isascii() or not 12 <= len(digits) <= 19:
        raise InvalidCardNumber("number must be 12 to 19 digits", details={"field": "number"})
    if not luhn_valid(digits):
        raise InvalidCardNumber(
            "number fails the card number check digit (Luhn); check it", details={"field": "number"}
        )
    return digits


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def brand(digits: str) -> str:
    for name, ranges, lengths in _BRANDS:
        for low, high in ranges:
            width = len(str(low))
            if low <= int(digits[:width]) <= high:
                if len(digits) not in lengths:
                    raise InvalidCardNumber(
                        f"a {name} card number has {sorted(lengths)} digits",
                        details={"field": "number"},
                    )
                return name
    raise UnsupportedBrand("the card brand is not supported", details={"field": "number"})


def truncate(digits: str) -> Truncated:
    return Truncated(brand=brand(digits), first6=digits[:6], last4=digits[-4:])


def parse_expiry(month: Any, year: Any, *, now: datetime) -> tuple[int, int]:
    """(month, 4-digit year); two-digit years are 20xx. Expired or impossible dates are refused."""
    if isinstance(month, bool) or isinstance(year, bool):
        raise CardExpired("exp_month and exp_year must be numbers", details={"field": "exp_month"})
    try:
        m, y = int(month), int(year)
    except (TypeError, ValueError):
        raise CardExpired(
            "exp_month and exp_year must be numbers such as 12 and 2030",
            details={"field": "exp_month"},
        ) from None
    if 0 <= y < 100:
        y += 2000
    if not 1 <= m <= 12 or not 2000 <= y <= 2200:
        raise CardExpired(
            "exp_month must be 1-12 and exp_year a year such as 2030",
            details={"field": "exp_month"},
        )
    if (y, m) < (now.year, now.month):
        raise CardExpired(
            f"the card expired at the end of {m:02d}/{y}", details={"field": "exp_year"}
        )
    return m, y


def parse_key(value: str | None, setting: str) -> bytes:
    """A 32-byte key given as base64 in configuration (``setting`` names the variable)."""
    hint = (
        f"set {setting} to 32 random bytes in base64, e.g. the output of "
        '`python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"`'
    )
    if not value:
        raise CardKeyNotConfigured(f"{setting} is not configured: {hint}")
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise CardKeyNotConfigured(f"{setting} is not valid base64: {hint}") from None
    if len(key) != KEY_BYTES:
        raise CardKeyNotConfigured(f"{setting} must decode to {KEY_BYTES} bytes: {hint}")
    return key


def fingerprint(digits: str, key: bytes) -> str:
    mac = hmac.new(key, digits.encode("ascii"), hashlib.sha256).hexdigest()
    return f"{FINGERPRINT_VERSION}_{mac}"


def masked(first6: str | None, last4: str, length: int = 16) -> str:
    """A display form: at most the first six and the last four digits (PCI DSS 3.4.1)."""
    head = first6 or ""
    hidden = max(length - len(head) - 4, 4)
    return f"{head}{'•' * hidden}{last4}"
