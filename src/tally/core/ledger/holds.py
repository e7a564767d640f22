"""Inflight holds: commit (full or partial, repeatable) and void, as new rows linked to the hold.

A hold's ``remaining`` = its amount - what was committed - what was voided. Commits may repeat until
nothing remains; a void releases what remains and ends the hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tally.core.errors import (
    AlreadyCommitted,
    AlreadyVoided,
    CommitAmountExceeded,
    InvalidAmount,
    NotInflight,
)
from tally.core.ids import new_id

from .amounts import parse_precise_amount, to_minor
from .records import Kind, Status, TransactionRecord


@dataclass(slots=True)
class HoldState:
    hold: TransactionRecord
    committed: int = 0
    voided: int = 0
    commits: int = 0

    @property
    def remaining(self) -> int:
        return self.hold.precise_amount - self.committed - self.voided


def commit_amount(hold: TransactionRecord, amount: Any, precise_amount: Any) -> int | None:
    """The minor units a commit asks for (``None`` = all that remains), at the hold's precision."""
    if precise_amount not in (None, 0, ""):
        return parse_precise_amount(precise_amount)
    if amount in (None, 0, ""):
        return None
    minor = to_minor(amount, hold.precision)
    if minor <= 0:
        raise InvalidAmount(f"commit amount must be positive; got {amount}")
    return minor


def _check_open(state: HoldState, action: str) -> None:
    hold = state.hold
    if hold.status != Status.INFLIGHT or hold.kind != Kind.TRANSFER:
        raise NotInflight(f"transaction {hold.transaction_id} is not in inflight status")
    if state.voided:
        raise AlreadyVoided(
            f"cannot {action}. Transaction {hold.transaction_id} has already been voided"
        )
    if state.remaining <= 0:
        raise AlreadyCommitted(f"cannot {action}. Transaction already committed")


def plan_commit(
    state: HoldState, amount: int | None, *, now: datetime, meta_data: dict[str, Any] | None = None
) -> TransactionRecord:
    _check_open(state, "commit")
    value = state.remaining if amount is None else amount
    if value > state.remaining:
        raise CommitAmountExceeded(
            f"cannot commit more than the hold has left: {state.remaining} remaining, "
            f"{value} requested",
            details={"remaining": state.remaining, "requested": value},
        )
    hold = state.hold
    state.committed += value
    state.commits += 1
    return TransactionRecord(
        transaction_id=new_id("txn"),
        parent_transaction=hold.transaction_id,
        source=hold.source,
        destination=hold.destination,
        reference=f"{hold.reference}-commit-{state.commits}",
        precise_amount=value,
        precision=hold.precision,
        currency=hold.currency,
        status=Status.APPLIED,
        kind=Kind.COMMIT,
        created_at=now,
        effective_date=now,
        description=hold.description,
        meta_data={**hold.meta_data, **(meta_data or {})},
    )


def plan_void(
    state: HoldState, *, now: datetime, meta_data: dict[str, Any] | None = None
) -> TransactionRecord:
    _check_open(state, "void")
    hold = state.hold
    value = state.remaining
    state.voided += value
    return TransactionRecord(
        transaction_id=new_id("txn"),
        parent_transaction=hold.transaction_id,
        source=hold.source,
        destination=hold.destination,
        reference=f"{hold.reference}-void",
        precise_amount=value,
        precision=hold.precision,
        currency=hold.currency,
        status=Status.VOID,
        kind=Kind.VOID,
        created_at=now,
        effective_date=now,
        description=hold.description,
        meta_data={**hold.meta_data, **(meta_data or {})},
    )
