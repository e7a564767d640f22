"""Exact conversion between Blnk's ``amount`` + ``precision`` and integer minor units."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tally.core.errors import InvalidAmount, PrecisionNotInteger, TransactionInvalid
from tally.core.ledger import amounts
from tally.core.ledger.amounts import (
    MAX_MINOR_UNITS,
    MAX_PRECISION,
    major_number,
    major_string,
    parse_precise_amount,
    parse_precision,
    resolve_amount,
    to_major,
    to_minor,
)

# ---- precision --------------------------------------------------------------------------------


def test_cents_are_a_precision_of_one_hundred() -> None:
    assert parse_precision(100) == 100


def test_a_missing_or_zero_precision_means_whole_units_as_in_blnk() -> None:
    assert parse_precision(None) == 1
    assert parse_precision(0) == 1


def test_a_whole_float_precision_is_accepted() -> None:
    assert parse_precision(100.0) == 100


@pytest.mark.parametrize("value", [2.5, 0.1, "2.5", "abc", "", [100], {"p": 1}, "²", "--5"])
def test_a_precision_that_is_not_a_whole_number_is_refused(value: object) -> None:
    with pytest.raises(PrecisionNotInteger) as caught:
        parse_precision(value)
    assert caught.value.code == "TXN_PRECISION_NOT_INTEGER"


def test_a_boolean_is_not_a_precision() -> None:
    with pytest.raises(PrecisionNotInteger):
        parse_precision(True)


@pytest.mark.parametrize("value", [-1, -100, -1.0, "-5"])
def test_a_negative_precision_is_refused(value: object) -> None:
    with pytest.raises(PrecisionNotInteger, match="negative"):
        parse_precision(value)


@pytest.mark.parametrize("value", [MAX_PRECISION + 1, 1e19, 1e300])
def test_a_precision_wider_than_64_bits_is_refused(value: object) -> None:
    with pytest.raises(PrecisionNotInteger, match="at most"):
        parse_precision(value)


def test_the_widest_precision_blnk_stores_is_accepted() -> None:
    assert parse_precision(MAX_PRECISION) == MAX_PRECISION


def test_a_precision_sent_as_digits_is_accepted() -> None:
    assert parse_precision(" 100 ") == 100


# ---- amount x precision -----------------------------------------------------------------------


def test_one_hundred_and_a_half_dollars_are_10050_cents() -> None:
    assert to_minor(100.5, 100) == 10050


def test_ten_cents_are_exactly_ten_even_though_0_1_is_not_a_binary_float() -> None:
    assert to_minor(0.1, 100) == 10


def test_a_float_that_looks_exact_stays_exact() -> None:
    assert to_minor(19.99, 100) == 1999
    assert to_minor(0.07, 100) == 7
    assert to_minor(1.1, 1000) == 1100


def test_blnk_example_of_a_large_amount_at_a_large_precision() -> None:
    assert to_minor(922337203.6854, 10**10) == 9223372036854000000


def test_an_amount_finer_than_the_precision_is_refused_not_rounded() -> None:
    with pytest.raises(InvalidAmount, match="not exact at precision 100") as caught:
        to_minor(1.005, 100)
    assert caught.value.code == "TXN_INVALID_AMOUNT"


def test_half_a_unit_at_precision_one_is_refused() -> None:
    with pytest.raises(InvalidAmount):
        to_minor(2.5, 1)


def test_sixteen_significant_digits_cannot_be_trusted_in_a_float() -> None:
    with pytest.raises(InvalidAmount, match="15 significant digits"):
        to_minor(1234567890.123456, 100)


def test_fifteen_significant_digits_are_still_fine() -> None:
    assert to_minor(1234567890.12345, 100_000) == 123456789012345


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), "NaN", "Infinity"])
def test_non_finite_amounts_are_refused(value: object) -> None:
    with pytest.raises(InvalidAmount, match="finite"):
        to_minor(value, 100)


@pytest.mark.parametrize("value", [None, True, [1], {"a": 1}, "twelve"])
def test_something_that_is_not_a_number_is_refused(value: object) -> None:
    with pytest.raises(InvalidAmount, match="must be a number"):
        to_minor(value, 100)


def test_a_whole_number_integer_amount_of_any_size_is_exact() -> None:
    amount = 123456789012345678901234567890
    assert to_minor(amount, 100) == amount * 100


def test_decimal_strings_are_exact() -> None:
    assert to_minor("12.50", 100) == 1250
    assert to_minor(Decimal("0.001"), 1000) == 1


def test_an_amount_beyond_38_digits_of_minor_units_is_refused() -> None:
    with pytest.raises(InvalidAmount, match="too large"):
        to_minor(1e300, 100)
    with pytest.raises(InvalidAmount, match="too large"):
        to_minor(10**37, 100)


def test_an_extreme_exponent_is_refused_without_building_a_huge_number() -> None:
    with pytest.raises(InvalidAmount, match="too large"):
        to_minor("1e999999999", 100)
    with pytest.raises(InvalidAmount, match="not exact"):
        to_minor("1e-999999999", 100)


@settings(deadline=None)  # pure arithmetic; no timing limit on a shared machine
@given(cents=st.integers(min_value=1, max_value=10**15 - 1))
def test_any_two_decimal_float_typed_by_a_person_converts_exactly(cents: int) -> None:
    typed = float(f"{cents // 100}.{cents % 100:02d}")
    assert to_minor(typed, 100) == cents


# ---- precise_amount ---------------------------------------------------------------------------


def test_precise_amount_beyond_64_bits_is_kept_exactly() -> None:
    assert parse_precise_amount(123456789012345678901) == 123456789012345678901


def test_precise_amount_may_arrive_as_a_string_of_digits() -> None:
    assert parse_precise_amount("123456789012345678901") == 123456789012345678901


@pytest.mark.parametrize("value", [0, -1, "-5", "0"])
def test_precise_amount_must_be_positive(value: object) -> None:
    with pytest.raises(InvalidAmount, match="positive"):
        parse_precise_amount(value)


@pytest.mark.parametrize("value", ["--5", "²", "١٢", "1.5", "12abc", "", True, 1.5, [1], None])
def test_precise_amount_must_be_plain_whole_digits(value: object) -> None:
    with pytest.raises(InvalidAmount, match="whole number"):
        parse_precise_amount(value)


def test_precise_amount_has_an_upper_bound() -> None:
    assert parse_precise_amount(MAX_MINOR_UNITS) == MAX_MINOR_UNITS
    with pytest.raises(InvalidAmount, match="too large"):
        parse_precise_amount(MAX_MINOR_UNITS + 1)
    with pytest.raises(InvalidAmount):
        parse_precise_amount("9" * 5000)


# ---- amount or precise_amount ------------------------------------------------------------------


def test_the_request_amount_comes_from_amount_and_precision() -> None:
    assert resolve_amount(42.5, None, 100) == 4250


def test_precise_amount_alone_is_taken_as_is() -> None:
    assert resolve_amount(None, 4250, 100) == 4250
    assert resolve_amount(0, 4250, 100) == 4250


def test_both_amount_and_precise_amount_is_ambiguous() -> None:
    with pytest.raises(TransactionInvalid, match="not both") as caught:
        resolve_amount(42.5, 4250, 100)
    assert caught.value.code == "TXN_VALIDATION_ERROR"


def test_neither_amount_nor_precise_amount_is_refused() -> None:
    with pytest.raises(TransactionInvalid, match="is required"):
        resolve_amount(None, None, 100)
    with pytest.raises(TransactionInvalid, match="is required"):
        resolve_amount(0, 0, 100)


@pytest.mark.parametrize("amount", [-1, -0.01, -100.5])
def test_a_negative_amount_is_refused(amount: float) -> None:
    with pytest.raises(InvalidAmount, match="positive"):
        resolve_amount(amount, None, 100)


def test_an_amount_that_rounds_to_nothing_is_refused() -> None:
    with pytest.raises(InvalidAmount):
        resolve_amount(0.001, None, 100)


# ---- minor units back to the wire --------------------------------------------------------------


def test_minor_units_render_back_as_blnk_numbers() -> None:
    assert major_number(10050, 100) == 100.5
    assert major_number(10000, 100) == 100
    assert isinstance(major_number(10000, 100), int)
    assert major_number(7, 1) == 7


def test_amount_string_is_the_exact_decimal() -> None:
    assert major_string(10050, 100) == "100.5"
    assert major_string(10000, 100) == "100"
    assert major_string(0, 100) == "0"
    assert major_string(1, 1000) == "0.001"
    assert major_string(123456789012345678901, 100) == "1234567890123456789.01"


def test_amount_string_stays_exact_beyond_28_digits() -> None:
    minor = 10**37 + 1
    assert major_string(minor, 100) == "100000000000000000000000000000000000.01"
    assert str(to_major(minor, 10**18)) == "10000000000000000000.000000000000000001"


@settings(deadline=None)  # pure arithmetic; no timing limit on a shared machine
@given(
    minor=st.integers(min_value=0, max_value=MAX_MINOR_UNITS),
    places=st.integers(min_value=0, max_value=18),
)
def test_to_minor_undoes_to_major_for_every_power_of_ten(minor: int, places: int) -> None:
    precision = 10**places
    assert to_minor(major_string(minor, precision), precision) == minor


# ---- floats in integers: the same answers as the Decimal way ----------------------------------


def _both(value: float, precision: int) -> tuple[object, object]:
    """What ``to_minor`` answers, and what the Decimal way alone answers (a value or an error)."""

    def answer(convert: Any) -> object:
        try:
            return convert()
        except InvalidAmount as exc:
            return (type(exc), str(exc))

    fast = answer(lambda: to_minor(value, precision))
    slow = answer(lambda: amounts._decimal_minor(value, precision, field="amount"))
    return fast, slow


@settings(max_examples=3000)
@given(
    value=st.floats(allow_nan=True, allow_infinity=True)
    | st.floats(min_value=-1e6, max_value=1e6).map(lambda f: round(f, 2))
    | st.decimals(min_value=0, max_value=10**13, places=4).map(float),
    precision=st.sampled_from([1, 3, 7, 10, 100, 1000, 10**8, 10**10, 10**18, 2**63 - 1])
    | st.integers(min_value=1, max_value=2**63 - 1),
)
def test_a_float_converts_in_integers_exactly_as_decimal_does(value: float, precision: int) -> None:
    fast, slow = _both(value, precision)
    assert fast == slow


@pytest.mark.parametrize(
    "value, precision",
    [
        (0.1, 100),
        (19.99, 100),
        (-12.5, 10),
        (-0.0, 100),
        (0.0, 1),
        (1e-05, 10**6),  # an exponent: the Decimal way
        (1e16, 1),
        (1234567890.123456, 100),  # 16 digits: refused
        (1.005, 100),  # inexact: refused
        (9.999999999999999e37, 1),  # too large: refused
        (922337203.6854, 10**10),
    ],
)
def test_floats_at_the_edges_answer_as_decimal_does(value: float, precision: int) -> None:
    fast, slow = _both(value, precision)
    assert fast == slow


def test_the_usual_floats_take_the_integer_way() -> None:
    assert amounts._float_minor(19.99, 100) == 1999
    assert amounts._float_minor(-12.5, 10) == -125
    assert amounts._float_minor(922337203.6854, 10**10) == 9223372036854000000
    for value, precision in [(1e-05, 10**6), (float("nan"), 1), (1.005, 100), (1e16, 1)]:
        assert amounts._float_minor(value, precision) is None
