"""What can be filtered, sorted and searched on each ledger entity, and how values are typed.

Field names are Blnk's (its filter whitelist), plus a few Tally columns (``precise_amount``,
``available_balance``, ``kind``, ``inflight`` ...). ``meta_data.<key>`` works on every entity.

Values are typed by the field they are compared with, never guessed from their look:
- ``AMOUNT``: a whole number of minor units, any size (``balance``, ``precise_amount``).
- ``MAJOR``: an exact decimal in major units (a transaction's ``amount``; compared exactly as
  ``precise_amount / precision``).
- ``TIME``: RFC 3339, a date (``2026-03-01``, the whole day for ``eq``), or Unix seconds.
- ``BOOL``: ``true``/``false`` (or ``1``/``0``). ``NUMBER``: a whole number. ``TEXT``: a string.
- ``META``: a JSON scalar kept as given (its text and, when numeric, its number are both compared).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from tally.core.clock import parse_timestamp
from tally.core.errors import BadRequest


class FieldType:
    TEXT = "text"
    AMOUNT = "amount"
    MAJOR = "major"
    NUMBER = "number"
    TIME = "time"
    BOOL = "bool"
    META = "meta"


@dataclass(frozen=True, slots=True)
class Moment:
    """An instant as the caller wrote it, and the end (exclusive) of the precision it was written
    to: ``2026-03-01`` runs to the next midnight, ``...T10:00:00Z`` for one second."""

    at: datetime
    until: datetime


Value = str | int | Decimal | bool | Moment

ENTITIES = ("ledgers", "balances", "transactions", "identities")
OPERATORS = (
    "eq", "ne", "gt", "gte", "lt", "lte", "in", "between", "like", "ilike", "isnull", "isnotnull",
)  # fmt: skip
META_PREFIX = "meta_data."
_META_KEY = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")

T = FieldType
_BALANCE_AMOUNTS = (
    "balance",
    "credit_balance",
    "debit_balance",
    "inflight_balance",
    "inflight_credit_balance",
    "inflight_debit_balance",
    "available_balance",
)
IDENTITY_TEXT = (
    "identity_type", "organization_name", "category", "first_name", "last_name", "other_names",
    "gender", "email_address", "phone_number", "nationality", "street", "country", "state",
    "post_code", "city",
)  # fmt: skip

FIELDS: dict[str, dict[str, str]] = {
    "ledgers": {"ledger_id": T.TEXT, "name": T.TEXT, "created_at": T.TIME},
    "balances": {
        "balance_id": T.TEXT,
        "ledger_id": T.TEXT,
        "identity_id": T.TEXT,
        "indicator": T.TEXT,
        "currency": T.TEXT,
        **dict.fromkeys(_BALANCE_AMOUNTS, T.AMOUNT),
        "version": T.NUMBER,
        "allow_overdraft": T.BOOL,
        "created_at": T.TIME,
    },
    "transactions": {
        "transaction_id": T.TEXT,
        "parent_transaction": T.TEXT,
        "amount": T.MAJOR,
        "precise_amount": T.AMOUNT,
        "precision": T.NUMBER,
        "currency": T.TEXT,
        "source": T.TEXT,
        "destination": T.TEXT,
        "balance_id": T.TEXT,
        "indicator": T.TEXT,
        "source_identity": T.TEXT,
        "destination_identity": T.TEXT,
        "reference": T.TEXT,
        "status": T.TEXT,
        "kind": T.TEXT,
        "description": T.TEXT,
        "inflight": T.BOOL,
        "created_at": T.TIME,
        "effective_date": T.TIME,
        "scheduled_for": T.TIME,
        "inflight_expiry_date": T.TIME,
    },
    "identities": {
        "identity_id": T.TEXT,
        **dict.fromkeys(IDENTITY_TEXT, T.TEXT),
        "dob": T.TIME,
        "created_at": T.TIME,
    },
}

ID_FIELDS = {
    "ledgers": "ledger_id",
    "balances": "balance_id",
    "transactions": "transaction_id",
    "identities": "identity_id",
}

# Fields read from related rows (the balances on either side): filterable, not sortable.
DERIVED = {"transactions": frozenset({"balance_id", "indicator", "source_identity",
                                      "destination_identity"})}  # fmt: skip
_ALL_OPS = frozenset(OPERATORS)
_ORDERED_OPS = _ALL_OPS - {"like", "ilike"}
TYPE_OPERATORS = {
    T.TEXT: _ALL_OPS,
    T.META: _ALL_OPS,
    T.AMOUNT: _ORDERED_OPS,
    T.MAJOR: _ORDERED_OPS,
    T.NUMBER: _ORDERED_OPS,
    T.TIME: _ORDERED_OPS,
    T.BOOL: frozenset({"eq", "ne", "in", "isnull", "isnotnull"}),
}
FIELD_OPERATORS = {("transactions", "balance_id"): frozenset({"eq", "ne", "in", "isnull",
                                                              "isnotnull"})}  # fmt: skip


def entity_fields(entity: str) -> dict[str, str]:
    try:
        return FIELDS[entity]
    except KeyError:
        raise BadRequest(
            f"unknown entity {entity!r}: use ledgers, balances, transactions or identities"
        ) from None


def field_type(entity: str, field: str) -> str:
    """The type of ``field`` on ``entity``; ``BadRequest`` for a field that cannot be filtered."""
    fields = entity_fields(entity)
    if field.startswith(META_PREFIX):
        key = field[len(META_PREFIX) :]
        if not _META_KEY.match(key):
            raise BadRequest(
                f"Invalid filter: invalid JSON key {key!r} in field {field!r}: a key starts with "
                "a letter and has only letters, digits and _",
                details={"field": field},
            )
        return T.META
    kind = fields.get(field)
    if kind is None:
        raise BadRequest(
            f"Invalid filter: invalid field {field!r} for table {entity!r}",
            details={"field": field, "valid_fields": [*sorted(fields), "meta_data.<key>"]},
        )
    return kind


def operators_for(entity: str, field: str) -> frozenset[str]:
    return FIELD_OPERATORS.get((entity, field), TYPE_OPERATORS[field_type(entity, field)])


def sortable(entity: str, field: str) -> bool:
    return field in entity_fields(entity) and field not in DERIVED.get(entity, frozenset())


# ---- values ------------------------------------------------------------------------------------


def coerce_value(kind: str, field: str, value: object) -> Value:
    """Type one filter value for a field of type ``kind``. Raises ``BadRequest``."""
    if value is None or isinstance(value, list | dict | tuple):
        raise BadRequest(
            f"Invalid filter: field {field!r} needs a single value (use isnull/isnotnull for "
            f"empty values); got {value!r}",
            details={"field": field},
        )
    if kind == T.TEXT:
        return text_of(value)
    if kind in (T.AMOUNT, T.NUMBER):
        return _whole(field, value)
    if kind == T.MAJOR:
        return _decimal(field, value)
    if kind == T.TIME:
        return _moment(field, value)
    if kind == T.BOOL:
        return _boolean(field, value)
    return _meta(field, value)


def text_of(value: object) -> str:
    """The text form of a scalar, as JSON shows it (``true``, ``5``, ``2.5``, ``abc``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def number_of(value: Value) -> Decimal | None:
    """The number a value stands for (``"5"``, ``5``, ``Decimal("2.5")``), or ``None``."""
    if isinstance(value, bool | Moment):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    try:
        number = Decimal(value.strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _bad(field: str, value: object, expected: str) -> BadRequest:
    return BadRequest(
        f"Invalid filter: field {field!r} takes {expected}; got {value!r}",
        details={"field": field, "value": str(value)},
    )


_WHOLE = re.compile(r"^[+-]?\d+$")


def _whole(field: str, value: object) -> int:
    if isinstance(value, bool):
        raise _bad(field, value, "a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _WHOLE.match(value.strip()):
        return int(value.strip())
    raise _bad(field, value, "a whole number (minor units for amounts)")


def _decimal(field: str, value: object) -> Decimal:
    if isinstance(value, bool):
        raise _bad(field, value, "a number")
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise _bad(field, value, "a number") from None
    if not number.is_finite():
        raise _bad(field, value, "a finite number")
    return number


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SECONDS = re.compile(r"^-?\d{1,12}$")


def _moment(field: str, value: object) -> Moment:
    if isinstance(value, bool):
        raise _bad(field, value, "a date-time")
    if isinstance(value, int | float):
        return _unix(field, value)
    text = str(value).strip()
    if _SECONDS.match(text):
        return _unix(field, int(text))
    try:
        if _DATE.match(text):
            day = date.fromisoformat(text)
            at = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return Moment(at, at + timedelta(days=1))
        at = parse_timestamp(text)
    except ValueError:
        raise _bad(field, value, "an RFC 3339 date-time, a date or Unix seconds") from None
    step = timedelta(microseconds=1) if "." in text else timedelta(seconds=1)
    return Moment(at, at + step)


def _unix(field: str, seconds: float) -> Moment:
    try:
        at = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise _bad(field, seconds, "Unix seconds in range") from None
    step = timedelta(seconds=1) if float(seconds).is_integer() else timedelta(microseconds=1)
    return Moment(at, at + step)


def _boolean(field: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise _bad(field, value, "true or false")


def _meta(field: str, value: object) -> Value:
    if isinstance(value, bool | int | str | Decimal):
        return value
    if isinstance(value, float):
        return _decimal(field, value)
    raise _bad(field, value, "a string, number or boolean")
