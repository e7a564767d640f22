"""The fast renderings of amounts and timestamps agree with their exact Decimal definitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, localcontext

from hypothesis import given
from hypothesis import strategies as st

from tally.core.clock import format_timestamp
from tally.core.ledger.amounts import major_number, major_string

precisions = st.one_of(
    st.sampled_from([1, 10, 100, 1000, 10**8, 10**18]), st.integers(min_value=1, max_value=10**9)
)
minors = st.integers(min_value=-(10**30), max_value=10**30)


def _exact(minor: int, precision: int) -> Decimal:
    with localcontext() as context:
        context.prec = 200
        return Decimal(minor) / Decimal(precision)


@given(minors, st.sampled_from([10**n for n in range(19)]))
def test_major_string_is_the_exact_decimal(minor: int, precision: int) -> None:
    text = major_string(minor, precision)
    assert Decimal(text) == _exact(minor, precision)
    assert text == "0" or "." not in text or not text.endswith("0")  # no trailing zeros
    assert "e" not in text.lower() and not text.startswith("+")


@given(minors, precisions)
def test_major_number_is_the_nearest_double_or_the_whole_number(minor: int, precision: int) -> None:
    value = major_number(minor, precision)
    exact = _exact(minor, precision)
    if exact == exact.to_integral_value():
        assert isinstance(value, int) and value == int(exact)
    else:
        assert isinstance(value, float)
        assert value == float(exact)  # correctly rounded, like float() of the exact quotient


def test_known_renderings() -> None:
    assert major_string(4200, 100) == "42"
    assert major_string(4250, 100) == "42.5"
    assert major_string(-5, 100) == "-0.05"
    assert major_string(0, 100) == "0"
    assert major_string(1, 3) == "0.3333333333333333333333333333"  # not a power of ten: Decimal
    assert major_number(4250, 100) == 42.5 and major_number(4200, 100) == 42
    assert major_number(10**400 + 1, 10) == float("inf")


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 30)))
def test_format_timestamp_matches_rfc3339_strftime(value: datetime) -> None:
    aware = value.replace(tzinfo=UTC)
    expected = aware.strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ" if aware.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    )
    if aware.year >= 1000:
        assert format_timestamp(aware) == expected
    assert format_timestamp(value) == format_timestamp(aware)  # naive means UTC


def test_format_timestamp_converts_offsets_and_renders_zero_time() -> None:
    plus_two = datetime(2026, 1, 31, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(plus_two) == "2026-01-31T12:00:00Z"
    assert format_timestamp(None) == "0001-01-01T00:00:00Z"
