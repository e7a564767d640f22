"""What callers hand the posting engine: steps, grouped into one all-or-nothing operation."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.errors import Unavailable
from tally.core.ledger.balances import BalanceState
from tally.core.ledger.records import TransactionRecord
from tally.core.ledger.transfers import TransferPlan

Extra = Callable[[AsyncConnection, list[TransactionRecord]], Awaitable[None]]
AfterApply = Callable[
    [AsyncConnection, dict[str, BalanceState], dict[str, BalanceState], datetime],
    Awaitable[None],
]
BeforeCommit = Callable[[AsyncConnection, dict[str, Any]], Awaitable[None]]

# A scratch dict for the batch attempt being applied, fresh for every attempt (a replay after a
# failure starts empty). An ``extra`` may leave rows in it for a ``before_commit`` hook to write
# for the whole batch at once; it is only set while extras and hooks run.
batch_scratch: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("batch_scratch")


class EngineStopped(Unavailable):
    """The engine is shutting down and takes no new work."""

    code = "GEN_UNAVAILABLE"


@dataclass(slots=True)
class Post:
    """Post a checked transfer plan (applied, held or scheduled)."""

    plan: TransferPlan


@dataclass(slots=True)
class Commit:
    """Commit all (``amount``/``precise_amount`` None) or part of a hold."""

    transaction_id: str
    amount: Any = None
    precise_amount: Any = None
    meta_data: dict[str, Any] | None = None


@dataclass(slots=True)
class Void:
    """Release what remains of a hold."""

    transaction_id: str
    meta_data: dict[str, Any] | None = None


@dataclass(slots=True)
class Refund:
    """Reverse an applied transaction (once)."""

    transaction_id: str
    description: str | None = None
    meta_data: dict[str, Any] | None = None
    allow_overdraft: bool = False


Step = Post | Commit | Void | Refund


@dataclass(eq=False, slots=True)
class Op:
    """One caller's request: its steps are applied together or not at all."""

    steps: list[Step]
    extra: Extra | None = None
    future: asyncio.Future[list[TransactionRecord]] | None = None
    # filled while the batch runs
    targets: dict[str, list[TransactionRecord]] = field(default_factory=dict)
    built: dict[int, list[TransactionRecord]] = field(default_factory=dict)  # by step index
    events: dict[str, Any] = field(default_factory=dict)  # outbox events, by transaction id
    error: BaseException | None = None
    records: list[TransactionRecord] = field(default_factory=list)

    @property
    def plans(self) -> list[TransferPlan]:
        return [step.plan for step in self.steps if isinstance(step, Post)]

    @property
    def target_ids(self) -> list[str]:
        return [step.transaction_id for step in self.steps if not isinstance(step, Post)]

    @property
    def weight(self) -> int:
        """How many rows the op may write (a batch is bounded by the sum, not by the op count)."""
        return sum(len(step.plan.legs) if isinstance(step, Post) else 1 for step in self.steps)

    def reset(self) -> None:
        """Forget the outcome of an attempt (the batch is being retried)."""
        self.error = None
        self.records = []

    def fail(self, exc: BaseException) -> None:
        self.records = []
        self.error = exc
