"""What callers hand the posting engine: steps, grouped into one all-or-nothing operation."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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


@dataclass(slots=True)
class MergedWrite:
    """Rows queued in a batch's scratch, as parts of the engine's own write statement.

    ``parts`` are CTEs (``name AS (...)``) whose parameters are numbered from the ``first`` the
    engine gave; ``counts`` are expressions the statement returns, in order, and ``check``
    raises if those values say a guarded row was not as planned."""

    parts: list[str]
    counts: list[str]
    params: list[str]
    check: Callable[[list[Any]], None]


# Turns what the extras of a batch queued in the scratch into a ``MergedWrite`` (taking it out
# of the scratch), or None; called with the number of the first free statement parameter.
WriteMerge = Callable[[dict[str, Any], int], "MergedWrite | None"]

# A scratch dict for the batch attempt being applied, fresh for every attempt (a replay after a
# failure starts empty). An ``extra`` may leave rows in it for a ``before_commit`` hook to write
# for the whole batch at once (or a ``write_merges`` hook to put in the engine's own write); it
# is set while the batch writes (extras, write, hooks), until its commit.
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


class Op:
    """One caller's request: its steps are applied together or not at all.

    A plain slotted class (every posting makes one, so its constructor is kept cheap)."""

    __slots__ = (
        "built",
        "encoded",
        "error",
        "events",
        "extra",
        "future",
        "passed_over",
        "queues_only",
        "records",
        "steps",
        "targets",
        "touched",
    )

    def __init__(
        self, steps: list[Step], extra: Extra | None = None, queues_only: bool = False
    ) -> None:
        self.steps = steps
        self.extra = extra
        # The extra sends no statement of its own: it only queues rows in the batch scratch,
        # so it may run before the batch's write and its rows travel in the same statement.
        self.queues_only = queues_only
        self.future: asyncio.Future[list[TransactionRecord]] | None = None
        # How many times a flusher left it for a later batch, and the balances its posts name
        # (``engine_queue``).
        self.passed_over = 0
        self.touched: set[str] | None = None
        # filled while the batch runs
        self.targets: dict[str, list[TransactionRecord]] = {}
        self.built: dict[int, list[TransactionRecord]] = {}  # by step index
        self.events: dict[str, Any] = {}  # outbox events, by transaction id
        self.encoded: dict[str, Any] = {}  # rows as the store sends them, by id
        self.error: BaseException | None = None
        self.records: list[TransactionRecord] = []

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
