"""Field rules shared by the cards and offers APIs: money is integer minor units plus a currency."""

from __future__ import annotations

import re
from typing import Any

from .errors import CardFieldInvalid

CURRENCY = re.compile(r"^[A-Z][A-Z0-9]{1,15}$")
MAX_TEXT = 255


def amount(value: Any, name: str, *, allow_zero: bool = False) -> int:
    """A whole number of minor units (or points); floats and strings are refused, never rounded."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise CardFieldInvalid(
            f"{name} must be a whole number of minor units (e.g. 4200 for 42.00)",
            details={"field": name},
        )
    if value < 0 or (value == 0 and not allow_zero):
        raise CardFieldInvalid(
            f"{name} must be {'zero or more' if allow_zero else 'greater than zero'}; got {value}",
            details={"field": name},
        )
    return value


def optional_amount(value: Any, name: str) -> int | None:
    return None if value is None else amount(value, name)


def currency(value: Any, name: str = "currency") -> str:
    """A currency or point-unit code, upper-cased (``eur`` and ``EUR`` are the same currency)."""
    if not isinstance(value, str) or not CURRENCY.match(value.strip().upper()):
        raise CardFieldInvalid(
            f"{name} must be a currency code such as EUR or USD", details={"field": name}
        )
    return value.strip().upper()


def text(value: Any, name: str, *, required: bool = True, limit: int = MAX_TEXT) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise CardFieldInvalid(f"{name}: cannot be blank.", details={"field": name})
        return ""
    if not isinstance(value, str):
        raise CardFieldInvalid(f"{name} must be a string", details={"field": name})
    if len(value) > limit:
        raise CardFieldInvalid(f"{name} is longer than {limit} characters", details={"field": name})
    return value.strip()


def identifier(value: Any, name: str, prefix: str | None = None) -> str:
    found = text(value, name)
    if prefix is not None and not found.startswith(prefix + "_"):
        raise CardFieldInvalid(
            f"{name} must be an id starting with {prefix}_", details={"field": name}
        )
    return found


def merchant_id(value: Any, name: str = "merchant_id") -> str:
    """Merchant ids come from the network as numbers or strings; Tally keeps them as text."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return text(value, name, limit=64)
