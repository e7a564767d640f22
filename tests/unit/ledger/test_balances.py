"""Balances: Blnk's meaning for every field, and the overdraft rule, branch by branch."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tally.core.errors import CurrencyMismatch, InsufficientFunds, OverdraftLimitExceeded
from tally.core.ledger.balances import (
    BalanceState,
    Overdraft,
    apply,
    check_currency,
    check_funds,
    commit,
    hold,
    release,
)

NO_OVERDRAFT = Overdraft()


def wallet(balance: int = 0, held: int = 0, *, allow_overdraft: bool = False) -> BalanceState:
    """A USD balance holding ``balance`` cents, ``held`` of them reserved by holds."""
    state = BalanceState("bln_alice", "USD", allow_overdraft=allow_overdraft)
    state.credit_balance = balance
    state.inflight_debit_balance = held
    return state


# ---- the fields -------------------------------------------------------------------------------


def test_balance_is_credits_minus_debits() -> None:
    state = BalanceState("bln_a", "USD", credit_balance=10_000, debit_balance=2_500)
    assert state.balance == 7_500


def test_inflight_balance_is_held_credits_minus_held_debits() -> None:
    state = BalanceState("bln_a", "USD", inflight_credit_balance=300, inflight_debit_balance=800)
    assert state.inflight_balance == -500


def test_available_is_the_balance_less_what_holds_reserve() -> None:
    assert wallet(10_000, held=8_000).available == 2_000


def test_money_held_for_you_is_not_yet_available() -> None:
    state = wallet(1_000)
    state.inflight_credit_balance = 5_000
    assert state.available == 1_000


def test_a_copy_is_independent() -> None:
    original = wallet(100)
    copied = original.copy()
    copied.debit_balance += 50
    assert original.balance == 100 and copied.balance == 50
    assert copied.balance_id == original.balance_id and copied.currency == "USD"


# ---- the overdraft rule -----------------------------------------------------------------------


def test_rule_1_allow_overdraft_without_a_limit_is_unlimited() -> None:
    check_funds(wallet(0), 10**30, Overdraft(allow=True))


def test_rule_2_a_balance_that_allows_overdraft_may_go_below_zero() -> None:
    check_funds(wallet(0, allow_overdraft=True), 1_000_000, NO_OVERDRAFT)


def test_rule_3_spending_what_is_available_is_fine() -> None:
    check_funds(wallet(5_000), 4_999, NO_OVERDRAFT)


def test_rule_3_spending_exactly_everything_is_fine() -> None:
    check_funds(wallet(5_000), 5_000, NO_OVERDRAFT)


def test_rule_3_money_on_hold_cannot_be_spent_twice() -> None:
    with pytest.raises(InsufficientFunds):
        check_funds(wallet(5_000, held=4_000), 1_001, NO_OVERDRAFT)
    check_funds(wallet(5_000, held=4_000), 1_000, NO_OVERDRAFT)


def test_rule_4_an_overdraft_limit_allows_going_below_zero_down_to_the_limit() -> None:
    check_funds(wallet(1_000), 6_000, Overdraft(limit=5_000))


def test_rule_4_one_cent_past_the_limit_is_refused() -> None:
    with pytest.raises(OverdraftLimitExceeded, match="exceeds overdraft limit") as caught:
        check_funds(wallet(1_000), 6_001, Overdraft(limit=5_000))
    assert caught.value.code == "TXN_INSUFFICIENT_FUNDS"
    assert caught.value.details == {
        "balance_id": "bln_alice",
        "available": 1_000,
        "requested": 6_001,
    }


def test_rule_4_a_limit_applies_even_when_allow_overdraft_is_set() -> None:
    with pytest.raises(OverdraftLimitExceeded):
        check_funds(wallet(0), 6_000, Overdraft(allow=True, limit=5_000))


def test_rule_4_holds_count_against_the_limit() -> None:
    with pytest.raises(OverdraftLimitExceeded):
        check_funds(wallet(1_000, held=1_000), 5_001, Overdraft(limit=5_000))


def test_rule_5_otherwise_the_funds_are_insufficient() -> None:
    with pytest.raises(InsufficientFunds, match="has 300 available, 500 requested") as caught:
        check_funds(wallet(300), 500, NO_OVERDRAFT)
    assert caught.value.code == "TXN_INSUFFICIENT_FUNDS"
    assert not isinstance(caught.value, OverdraftLimitExceeded)


def test_blnk_check_10_overdraft_limit_50_dollars_then_40_then_20_more() -> None:
    source = wallet(0)
    sink = BalanceState("bln_shop", "USD")
    limit = Overdraft(limit=5_000)
    check_funds(source, 4_000, limit)
    apply(source, sink, 4_000)
    assert source.balance == -4_000
    with pytest.raises(OverdraftLimitExceeded):
        check_funds(source, 2_000, limit)
    check_funds(source, 1_000, limit)


@settings(deadline=None)  # pure arithmetic; no timing limit on a shared machine
@given(
    balance=st.integers(-10_000, 10_000),
    held=st.integers(0, 10_000),
    amount=st.integers(1, 30_000),
    allow=st.booleans(),
    limit=st.integers(0, 10_000),
    balance_allows=st.booleans(),
)
def test_the_rule_as_one_formula(
    balance: int, held: int, amount: int, allow: bool, limit: int, balance_allows: bool
) -> None:
    available = balance - held
    expected = (
        (allow and limit == 0)
        or balance_allows
        or available >= amount
        or (limit > 0 and available - amount >= -limit)
    )
    state = wallet(0, held, allow_overdraft=balance_allows)
    state.credit_balance, state.debit_balance = max(balance, 0), max(-balance, 0)
    try:
        check_funds(state, amount, Overdraft(allow=allow, limit=limit))
        allowed = True
    except InsufficientFunds:
        allowed = False
    assert allowed == expected


# ---- currencies -------------------------------------------------------------------------------


def test_a_euro_balance_cannot_take_a_dollar_transaction() -> None:
    with pytest.raises(CurrencyMismatch, match="holds EUR, the transaction is in USD") as caught:
        check_currency(BalanceState("bln_eu", "EUR"), "USD")
    assert caught.value.code == "TXN_CURRENCY_MISMATCH"


def test_same_currency_is_fine() -> None:
    check_currency(BalanceState("bln_us", "USD"), "USD")


# ---- postings ---------------------------------------------------------------------------------


def test_applying_moves_money_from_source_to_destination() -> None:
    alice, shop = wallet(10_000), BalanceState("bln_shop", "USD")
    apply(alice, shop, 4_200)
    assert (alice.balance, alice.debit_balance, shop.balance, shop.credit_balance) == (
        5_800,
        4_200,
        4_200,
        4_200,
    )
    assert alice.version == 1 and shop.version == 1


def test_a_hold_reserves_without_moving() -> None:
    alice, shop = wallet(10_000), BalanceState("bln_shop", "USD")
    hold(alice, shop, 8_000)
    assert alice.balance == 10_000 and alice.available == 2_000
    assert alice.inflight_balance == -8_000 and shop.inflight_balance == 8_000
    assert shop.balance == 0


def test_committing_part_of_a_hold_moves_that_part() -> None:
    alice, shop = wallet(10_000), BalanceState("bln_shop", "USD")
    hold(alice, shop, 8_000)
    commit(alice, shop, 3_000)
    assert alice.balance == 7_000 and alice.inflight_debit_balance == 5_000
    assert shop.balance == 3_000 and shop.inflight_credit_balance == 5_000
    assert alice.available == 2_000


def test_releasing_a_hold_gives_the_money_back() -> None:
    alice, shop = wallet(10_000), BalanceState("bln_shop", "USD")
    hold(alice, shop, 8_000)
    release(alice, shop, 8_000)
    assert alice.available == 10_000 and alice.inflight_balance == 0
    assert shop.inflight_balance == 0 and shop.balance == 0


@settings(deadline=None)  # pure arithmetic; no timing limit on a shared machine
@given(
    steps=st.lists(
        st.tuples(st.sampled_from([apply, hold, commit, release]), st.integers(1, 10**20)),
        max_size=30,
    )
)
def test_every_posting_keeps_the_pair_summing_to_zero(steps: list[tuple[object, int]]) -> None:
    alice, shop = BalanceState("bln_alice", "USD"), BalanceState("bln_shop", "USD")
    for posting, amount in steps:
        posting(alice, shop, amount)  # type: ignore[operator]
        assert alice.balance + shop.balance == 0
        assert alice.inflight_balance + shop.inflight_balance == 0
    assert alice.version == shop.version == len(steps)
