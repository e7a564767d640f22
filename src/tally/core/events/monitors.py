"""Balance monitors: a condition on one balance field that fires once when it becomes true.

Fields are Blnk's (``balance``, ``credit_balance``, ``debit_balance``, ``inflight_balance``,
``inflight_credit_balance``, ``inflight_debit_balance``) plus ``available_balance``
(balance - inflight debits). ``value`` is in major units at ``precision`` (the multiplier to minor
units, default 1) and must be exact: ``precise_value = value x precision`` is computed once,
without rounding. Operators: ``>``, ``>=``, ``<``, ``<=``, ``==`` (``=`` is accepted), ``!=``.

Edge-triggered: a posting fires the monitor only when the condition was false before it and is
true after it; while the condition stays true nothing more is sent. Creating or changing a monitor
whose condition already holds fires it once at that moment.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from tally.core.errors import TallyError
from tally.core.ledger.amounts import parse_precision, to_decimal, to_minor

from .errors import InvalidMonitor

FIELDS = (
    "balance",
    "credit_balance",
    "debit_balance",
    "inflight_balance",
    "inflight_credit_balance",
    "inflight_debit_balance",
    "available_balance",
)
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
ALIASES = {"=": "=="}


class BalanceFields(Protocol):
    @property
    def balance(self) -> int: ...
    @property
    def inflight_balance(self) -> int: ...

    credit_balance: int
    debit_balance: int
    inflight_credit_balance: int
    inflight_debit_balance: int


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    operator: str
    value: Decimal
    precision: int
    precise_value: int


def parse_condition(field: Any, op: Any, value: Any, precision: Any) -> Condition:
    """A checked condition; raises :class:`InvalidMonitor` naming the bad part."""
    if not isinstance(field, str) or field not in FIELDS:
        raise InvalidMonitor(f"condition.field: must be one of {', '.join(FIELDS)}; got {field!r}")
    if not isinstance(op, str) or ALIASES.get(op.strip(), op.strip()) not in OPERATORS:
        raise InvalidMonitor(
            f"condition.operator: must be one of {', '.join(OPERATORS)}; got {op!r}"
        )
    if value is None:
        raise InvalidMonitor("condition.value: cannot be blank.")
    try:
        scale = parse_precision(precision)
        number = to_decimal(value, field="condition.value")
        minor = _signed_minor(number, scale)
    except TallyError as exc:
        raise InvalidMonitor(f"condition: {exc.message}") from None
    name = ALIASES.get(op.strip(), op.strip())
    return Condition(field, name, number, scale, minor)


def _signed_minor(number: Decimal, precision: int) -> int:
    if number < 0:
        return -to_minor(-number, precision, field="condition.value")
    return to_minor(number, precision, field="condition.value")


def field_value(state: BalanceFields, field: str) -> int:
    if field == "available_balance":
        return state.balance - state.inflight_debit_balance
    return int(getattr(state, field))


def holds(condition: Condition, state: BalanceFields) -> bool:
    return OPERATORS[condition.operator](
        field_value(state, condition.field), condition.precise_value
    )


def fires(condition: Condition, before: BalanceFields, after: BalanceFields) -> bool:
    """True only on the false -> true edge."""
    return not holds(condition, before) and holds(condition, after)


def number_view(value: Decimal) -> int | float:
    """``value`` as a JSON number (an int when whole)."""
    return int(value) if value == value.to_integral_value() else float(value)
