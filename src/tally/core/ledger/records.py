"""What the ledger stores: ledgers, balances, transactions, identities (plain data, no I/O)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Status:
    APPLIED = "APPLIED"
    INFLIGHT = "INFLIGHT"
    VOID = "VOID"
    SCHEDULED = "SCHEDULED"
    REJECTED = "REJECTED"


class Kind:
    """Why a transaction row exists. Rows never change; every state change is a new row."""

    TRANSFER = "transfer"  # a posted transaction (applied now, held, or scheduled)
    COMMIT = "commit"  # part or all of a hold made real; parent = the hold
    VOID = "void"  # what was left of a hold released; parent = the hold
    REFUND = "refund"  # a reversal of an applied row; parent = that row


@dataclass(slots=True)
class TransactionRecord:
    transaction_id: str
    source: str
    destination: str
    reference: str
    precise_amount: int
    precision: int
    currency: str
    status: str
    kind: str
    created_at: datetime
    effective_date: datetime
    description: str = ""
    parent_transaction: str | None = None
    meta_data: dict[str, Any] = field(default_factory=dict)
    allow_overdraft: bool = False
    overdraft_limit: int = 0
    inflight: bool = False
    atomic: bool = False
    scheduled_for: datetime | None = None
    inflight_expiry_date: datetime | None = None
    hash: str = ""

    def __post_init__(self) -> None:
        if not self.hash:
            self.hash = transaction_hash(
                self.precise_amount, self.reference, self.currency, self.source, self.destination
            )


def transaction_hash(amount: int, reference: str, currency: str, source: str, dest: str) -> str:
    text = f"{amount}{reference}{currency}{source}{dest}"
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(slots=True)
class LedgerRecord:
    ledger_id: str
    name: str
    created_at: datetime
    meta_data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class BalanceRecord:
    balance_id: str
    ledger_id: str
    currency: str
    created_at: datetime
    identity_id: str | None = None
    indicator: str | None = None
    allow_overdraft: bool = False
    credit_balance: int = 0
    debit_balance: int = 0
    inflight_credit_balance: int = 0
    inflight_debit_balance: int = 0
    version: int = 0
    meta_data: dict[str, Any] = field(default_factory=dict)

    @property
    def balance(self) -> int:
        return self.credit_balance - self.debit_balance

    @property
    def inflight_balance(self) -> int:
        return self.inflight_credit_balance - self.inflight_debit_balance
