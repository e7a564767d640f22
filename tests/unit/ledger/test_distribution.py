"""Splitting one amount over several balances: every minor unit lands somewhere, exactly once."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tally.core.errors import InvalidDistribution
from tally.core.ledger.distribution import Share, split


def test_blnk_example_ten_percent_twenty_dollars_and_the_rest() -> None:
    legs = split(10000, 100, [Share("A", "10%"), Share("B", "20"), Share("C", "left")])
    assert legs == [("A", 1000), ("B", 2000), ("C", 7000)]


def test_three_way_split_of_ten_dollars_gives_the_odd_cent_to_the_left_leg() -> None:
    legs = split(1000, 100, [Share("A", "33.33%"), Share("B", "33.33%"), Share("C", "left")])
    assert legs == [("A", 333), ("B", 333), ("C", 334)]


def test_three_way_split_without_left_gives_the_dust_to_the_largest_remainder() -> None:
    legs = split(100, 100, [Share("A", "33.33%"), Share("B", "33.33%"), Share("C", "33.34%")])
    # exact shares 33.33 / 33.33 / 33.34: one cent of dust, C has the largest fraction
    assert legs == [("A", 33), ("B", 33), ("C", 34)]


def test_a_tie_for_the_dust_goes_to_the_earlier_leg() -> None:
    assert split(101, 100, [Share("A", "50%"), Share("B", "50%")]) == [("A", 51), ("B", 50)]
    assert split(101, 100, [Share("B", "50%"), Share("A", "50%")]) == [("B", 51), ("A", 50)]


def test_a_tie_is_settled_the_same_way_every_time() -> None:
    shares = [Share(name, "25%") for name in "ABCD"]
    first = split(1003, 100, shares)
    assert all(split(1003, 100, shares) == first for _ in range(5))
    assert first == [("A", 251), ("B", 251), ("C", 251), ("D", 250)]


def test_percentages_that_do_not_add_up_need_a_left_leg() -> None:
    with pytest.raises(InvalidDistribution, match="do not add up") as caught:
        split(1000, 100, [Share("A", "33.33%"), Share("B", "33.33%"), Share("C", "33.33%")])
    assert caught.value.code == "TXN_INVALID_DISTRIBUTION"


def test_percentages_above_one_hundred_are_refused() -> None:
    with pytest.raises(InvalidDistribution, match="more than 100%"):
        split(1000, 100, [Share("A", "60%"), Share("B", "50%")])


def test_a_fixed_leg_larger_than_the_total_is_refused() -> None:
    with pytest.raises(InvalidDistribution, match="exceeds what remains"):
        split(1000, 100, [Share("A", "20"), Share("B", "left")])


def test_fixed_legs_together_larger_than_the_total_are_refused() -> None:
    with pytest.raises(InvalidDistribution, match="exceeds what remains"):
        split(1000, 100, [Share("A", "6"), Share("B", "6")])


def test_fixed_and_percent_legs_over_the_total_are_refused() -> None:
    with pytest.raises(InvalidDistribution, match="more than the transaction amount"):
        split(1000, 100, [Share("A", "5"), Share("B", "60%"), Share("C", "left")])


def test_fixed_and_percent_legs_may_cover_the_total_exactly() -> None:
    assert split(1000, 100, [Share("A", "2"), Share("B", "80%")]) == [("A", 200), ("B", 800)]


def test_precise_distribution_is_taken_in_minor_units() -> None:
    legs = split(
        1000, 100, [Share("A", precise_distribution=250), Share("B", precise_distribution="left")]
    )
    assert legs == [("A", 250), ("B", 750)]


def test_precise_distribution_as_a_string() -> None:
    legs = split(1000, 100, [Share("A", precise_distribution="999"), Share("B", "left")])
    assert legs == [("A", 999), ("B", 1)]


def test_a_leg_that_comes_out_at_zero_is_dropped() -> None:
    assert split(1000, 100, [Share("A", "10"), Share("B", "left")]) == [("A", 1000)]


def test_a_fraction_of_a_minor_unit_moves_nothing_for_that_leg() -> None:
    assert split(1, 100, [Share("A", "10%"), Share("B", "left")]) == [("B", 1)]


@pytest.mark.parametrize(
    "shares",
    [
        [Share("A", "left"), Share("B", "left")],
        [Share("A", "10%"), Share("A", "left")],
        [Share("", "10%"), Share("B", "left")],
        [Share("A"), Share("B", "left")],
        [Share("A", "abc"), Share("B", "left")],
        [Share("A", "%"), Share("B", "left")],
        [Share("A", "0%"), Share("B", "left")],
        [Share("A", "-10%"), Share("B", "left")],
        [Share("A", "101%")],
        [Share("A", "NaN%"), Share("B", "left")],
        [Share("A", "-5"), Share("B", "left")],
        [Share("A", "0.001"), Share("B", "left")],
        [Share("A", precise_distribution=-5), Share("B", "left")],
        [Share("A", precise_distribution="1.5"), Share("B", "left")],
        [Share("A", precise_distribution="²"), Share("B", "left")],
        [Share("A", "1e-999999999%"), Share("B", "left")],
        [],
    ],
    ids=[
        "two-left",
        "same-identifier",
        "no-identifier",
        "no-distribution",
        "not-a-number",
        "bare-percent",
        "zero-percent",
        "negative-percent",
        "over-100-percent",
        "nan-percent",
        "negative-fixed",
        "finer-than-precision",
        "negative-precise",
        "fractional-precise",
        "superscript-precise",
        "absurd-percent-places",
        "no-legs",
    ],
)
def test_malformed_legs_are_refused(shares: list[Share]) -> None:
    with pytest.raises(InvalidDistribution):
        split(1000, 100, shares)


def test_a_huge_total_is_split_exactly() -> None:
    total = 10**37 + 1
    assert split(total, 100, [Share("A", "50%"), Share("B", "50%")]) == [
        ("A", 5 * 10**36 + 1),
        ("B", 5 * 10**36),
    ]


percents = st.decimals(min_value="0.01", max_value="100", places=2)


@st.composite
def distributions(draw: st.DrawFn) -> tuple[int, list[Share]]:
    total = draw(st.integers(min_value=1, max_value=10**20))
    count = draw(st.integers(min_value=1, max_value=6))
    shares: list[Share] = []
    for index in range(count):
        kind = draw(st.sampled_from(["percent", "fixed", "precise"]))
        name = f"bln_{index}"
        if kind == "percent":
            shares.append(Share(name, f"{draw(percents)}%"))
        elif kind == "fixed":
            cents = draw(st.integers(0, total))
            shares.append(Share(name, f"{cents // 100}.{cents % 100:02d}"))
        else:
            shares.append(Share(name, precise_distribution=draw(st.integers(0, total))))
    if draw(st.booleans()):
        shares.insert(draw(st.integers(0, len(shares))), Share("bln_left", "left"))
    return total, shares


@settings(deadline=None)  # pure arithmetic; no timing limit on a shared machine
@given(distributions())
def test_legs_always_add_up_to_the_total_or_the_split_is_refused(
    case: tuple[int, list[Share]],
) -> None:
    total, shares = case
    try:
        legs = split(total, 100, shares)
    except InvalidDistribution:
        event("refused")
        return
    event("split")
    assert sum(amount for _, amount in legs) == total
    assert all(amount > 0 for _, amount in legs)
    names = [name for name, _ in legs]
    assert names == [s.identifier for s in shares if s.identifier in names]


@settings(deadline=None)  # pure arithmetic; no timing limit on a shared machine
@given(
    total=st.integers(min_value=1, max_value=10**30),
    weights=st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=8),
)
def test_percentages_adding_to_exactly_100_always_split_without_a_left_leg(
    total: int, weights: list[int]
) -> None:
    # basis points that add up to 10000 = 100.00%
    scale = sum(weights)
    points = [w * 10_000 // scale for w in weights]
    points[-1] += 10_000 - sum(points)
    points = [p for p in points if p > 0]
    shares = [Share(f"bln_{i}", f"{p // 100}.{p % 100:02d}%") for i, p in enumerate(points)]
    legs = split(total, 100, shares)
    assert sum(amount for _, amount in legs) == total
    wanted = {
        s.identifier: Fraction(total * int(p), 10_000) for s, p in zip(shares, points, strict=True)
    }
    for name, amount in legs:
        assert abs(amount - wanted[name]) < 1
    dropped = set(wanted) - {name for name, _ in legs}
    assert all(wanted[name] < 1 for name in dropped)
