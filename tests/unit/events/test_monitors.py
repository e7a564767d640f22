"""Balance monitor conditions: exact thresholds and the false -> true edge."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tally.core.events.errors import InvalidMonitor
from tally.core.events.monitors import fires, holds, parse_condition
from tally.core.ledger.balances import BalanceState


def state(credit: int = 0, debit: int = 0, held: int = 0) -> BalanceState:
    return BalanceState(
        "bln_1", "USD", credit_balance=credit, debit_balance=debit, inflight_debit_balance=held
    )


def test_value_times_precision_is_exact() -> None:
    condition = parse_condition("balance", ">", 10.5, 100)
    assert condition.precise_value == 1050 and condition.value == Decimal("10.5")
    assert parse_condition("balance", "<", -2.25, 100).precise_value == -225
    assert parse_condition("balance", "<", 0, None).precise_value == 0
    with pytest.raises(InvalidMonitor, match="not exact"):
        parse_condition("balance", ">", 0.001, 100)


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        (">", 100, False),
        (">=", 100, True),
        ("<", 101, True),
        ("<=", 99, False),
        ("==", 100, True),
        ("=", 100, True),
        ("!=", 100, False),
    ],
)
def test_operators(op: str, value: int, expected: bool) -> None:
    assert holds(parse_condition("balance", op, value, 1), state(credit=100)) is expected


def test_available_balance_subtracts_holds() -> None:
    condition = parse_condition("available_balance", "<", 50, 1)
    assert holds(condition, state(credit=100, held=60))
    assert not holds(condition, state(credit=100, held=10))


def test_fires_only_on_the_edge() -> None:
    condition = parse_condition("balance", ">", 100, 1)
    assert fires(condition, state(credit=50), state(credit=150))
    assert not fires(condition, state(credit=150), state(credit=200))
    assert not fires(condition, state(credit=150), state(credit=50))
    assert not fires(condition, state(credit=10), state(credit=50))


@pytest.mark.parametrize(
    ("field", "op", "value"),
    [
        ("balances", ">", 1),
        ("balance", "=>", 1),
        ("balance", ">", None),
        ("balance", ">", "ten"),
        (None, ">", 1),
    ],
)
def test_bad_conditions_say_what_is_wrong(field: object, op: object, value: object) -> None:
    with pytest.raises(InvalidMonitor):
        parse_condition(field, op, value, 1)
