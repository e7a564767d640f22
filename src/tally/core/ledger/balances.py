"""Balance state and the arithmetic of postings (Blnk's meaning for every field).

- ``balance = credit_balance - debit_balance``
- ``inflight_balance = inflight_credit_balance - inflight_debit_balance``
- ``available = balance - inflight_debit_balance``: what a new debit may use.

Overdraft rule for a debit of ``A`` from a source, first match wins:
1. the transaction says ``allow_overdraft`` with no ``overdraft_limit``: allowed;
2. the balance itself allows overdraft (indicator balances such as ``@World`` do by default,
   since they stand for the outside world): allowed;
3. ``available >= A``: allowed;
4. the transaction gives ``overdraft_limit`` L (minor units): allowed iff ``available - A >= -L``;
5. otherwise: insufficient funds.
Commits and voids of a hold never check funds: the hold reserved them.
"""

from __future__ import annotations

from dataclasses import dataclass

from tally.core.errors import CurrencyMismatch, InsufficientFunds, OverdraftLimitExceeded


@dataclass(slots=True)
class BalanceState:
    balance_id: str
    currency: str
    allow_overdraft: bool = False
    indicator: str | None = None
    credit_balance: int = 0
    debit_balance: int = 0
    inflight_credit_balance: int = 0
    inflight_debit_balance: int = 0
    version: int = 0
    monitored: bool = True  # whether a balance monitor watches it (False only when known)

    @property
    def balance(self) -> int:
        return self.credit_balance - self.debit_balance

    @property
    def inflight_balance(self) -> int:
        return self.inflight_credit_balance - self.inflight_debit_balance

    @property
    def available(self) -> int:
        return self.balance - self.inflight_debit_balance

    def copy(self) -> BalanceState:
        return BalanceState(
            self.balance_id,
            self.currency,
            self.allow_overdraft,
            self.indicator,
            self.credit_balance,
            self.debit_balance,
            self.inflight_credit_balance,
            self.inflight_debit_balance,
            self.version,
            self.monitored,
        )


@dataclass(frozen=True, slots=True)
class Overdraft:
    """What a transaction allows its source to do below zero."""

    allow: bool = False
    limit: int = 0  # minor units; 0 with allow=True means unlimited


def check_currency(balance: BalanceState, currency: str) -> None:
    if balance.currency != currency:
        raise CurrencyMismatch(
            f"balance {balance.balance_id} holds {balance.currency}, "
            f"the transaction is in {currency}",
            details={"balance_id": balance.balance_id, "balance_currency": balance.currency},
        )


def check_funds(source: BalanceState, amount: int, overdraft: Overdraft) -> None:
    if overdraft.allow and overdraft.limit == 0:
        return
    if source.allow_overdraft:
        return
    available = source.available
    if available >= amount:
        return
    if overdraft.limit > 0:
        if available - amount >= -overdraft.limit:
            return
        raise OverdraftLimitExceeded(
            f"transaction exceeds overdraft limit: balance {source.balance_id} has {available} "
            f"available, {amount} requested, overdraft limit {overdraft.limit}",
            details={"balance_id": source.balance_id, "available": available, "requested": amount},
        )
    raise InsufficientFunds(
        f"insufficient funds in source balance: balance {source.balance_id} has {available} "
        f"available, {amount} requested",
        details={"balance_id": source.balance_id, "available": available, "requested": amount},
    )


def apply(source: BalanceState, destination: BalanceState, amount: int) -> None:
    """Move ``amount`` now."""
    source.debit_balance += amount
    destination.credit_balance += amount
    source.version += 1
    destination.version += 1


def hold(source: BalanceState, destination: BalanceState, amount: int) -> None:
    """Reserve ``amount`` (inflight): the source's available drops, balances do not move."""
    source.inflight_debit_balance += amount
    destination.inflight_credit_balance += amount
    source.version += 1
    destination.version += 1


def commit(source: BalanceState, destination: BalanceState, amount: int) -> None:
    """Turn ``amount`` of a hold into a real movement."""
    source.inflight_debit_balance -= amount
    destination.inflight_credit_balance -= amount
    source.debit_balance += amount
    destination.credit_balance += amount
    source.version += 1
    destination.version += 1


def release(source: BalanceState, destination: BalanceState, amount: int) -> None:
    """Give back ``amount`` of a hold (void)."""
    source.inflight_debit_balance -= amount
    destination.inflight_credit_balance -= amount
    source.version += 1
    destination.version += 1
