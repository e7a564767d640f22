"""One batch through the posting engine: what comes before any lock, and the locked way.

``prepare`` is step 1 of ``engine``: indicator balances named for the first time are created,
the rows that commits, voids and refunds name are read, and the posts' rows and events are built
and encoded, all before a lock is taken. ``apply_locked`` is steps 2 to 4, one write transaction
whose first statement locks every balance of the batch in ``balance_id`` order. The helpers at
the end pin a failed write on one operation, so that only the culprit fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.errors import DuplicateReference, TallyError
from tally.core.ledger.records import TransactionRecord

from . import engine_names as names
from .engine_apply import (
    BatchState,
    apply_all,
    balance_ids,
    check_zero_sum,
    missing_target,
    planned_references,
    post_records,
)
from .engine_ops import MergedWrite, Op, Post, batch_scratch
from .engine_sql import ReferenceTaken, duplicate_error, event_for, events_for, hold_states
from .types import to_micros

if TYPE_CHECKING:
    from .engine import PostingEngine

TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization, deadlock, lock not available


class OpFailed(Exception):
    """Raised inside a batch transaction when one operation's failure spoils the whole write."""

    def __init__(self, op: Op, error: BaseException) -> None:
        super().__init__(str(error))
        self.op = op
        self.error = error


# ---- step 1: resolve names and targets outside the write transaction -----------------------


async def prepare(engine: PostingEngine, batch: list[Op]) -> list[Op]:
    """Step 1: indicator balances created, targets read, rows built; returns the ops still live."""
    wanted = engine.unknown_indicators(batch)
    if wanted:
        try:
            await names.ensure_indicators(
                engine.db, wanted, engine.indicators, now=engine.clock.now()
            )
        except TallyError as exc:
            for op in batch:
                op.fail(exc)
            return []
    targets = {tid for op in batch for tid in op.target_ids}
    if targets:
        found = await engine.load_targets(targets)
        for op in batch:
            for step in op.steps:
                if isinstance(step, Post):
                    continue
                op.targets[step.transaction_id] = found.get(step.transaction_id, [])
                if not op.targets[step.transaction_id]:
                    op.fail(missing_target(step))
                    break
    live = [op for op in batch if op.error is None]
    build(engine, live)
    return live


def build(engine: PostingEngine, ops: list[Op]) -> None:
    """Build and encode the rows posts would write, before any lock is taken."""
    now = engine.clock.now()
    created = to_micros(now)
    for op in ops:
        for index, step in enumerate(op.steps):
            if isinstance(step, Post) and index not in op.built:
                records = post_records(step.plan, engine.indicators, now)
                op.built[index] = records
                for record in records:
                    op.events[record.transaction_id] = event_for(record, created)
                    op.encoded[record.transaction_id] = engine.sql.encode(record)


# ---- steps 2..4: one write transaction -----------------------------------------------------


async def apply_locked(engine: PostingEngine, ops: list[Op]) -> None:
    """Steps 2 to 4: ``ops`` in one write transaction, their balances locked by its first
    statement; an operation whose ``extra`` fails raises ``OpFailed`` (nothing is written)."""
    now = engine.clock.now()
    async with engine.db.write() as conn:
        # One statement locks the balances and says which references are used already.
        ids = sorted(balance_ids(ops, engine.indicators))
        states, taken = await engine.sql.lock(conn, ids, planned_references(ops))
        holds = await hold_states(conn, ops)
        batch = BatchState(states, holds, taken, engine.indicators, now)
        done = apply_all(ops, batch)
        records = [r for op in done for r in op.records]
        if not records:
            return
        changed = batch.changed()
        check_zero_sum(batch.before, changed)
        ordered = [changed[k] for k in sorted(changed)]
        built = {k: v for op in done for k, v in op.events.items()}
        encoded = {k: v for op in done for k, v in op.encoded.items()}
        events = events_for(records, built, now)
        scratch: dict[str, Any] = {}
        token = batch_scratch.set(scratch)
        try:
            extras_first = _mergeable(engine, done)
            merged: list[MergedWrite] = []
            if extras_first:
                await _extras(conn, done)
                merged = _merged(engine, scratch)
            await engine.sql.write(conn, records, ordered, events, encoded, merged)
            hooks = engine.after_apply
            if engine.after_apply_watched and any(s.monitored for s in changed.values()):
                hooks = [*hooks, *engine.after_apply_watched]
            for hook in hooks:
                await hook(conn, {k: batch.before[k] for k in changed}, changed, now)
            if not extras_first:
                await _extras(conn, done)
            for flush in engine.before_commit:
                await flush(conn, scratch)
        finally:
            batch_scratch.reset(token)


def _mergeable(engine: PostingEngine, done: list[Op]) -> bool:
    """Whether the extras of ``done`` may run before the write (each only queues rows)."""
    if not (engine.write_merges and engine.sql.merges):
        return False
    extras = [op for op in done if op.extra is not None]
    return bool(extras) and all(op.queues_only for op in extras)


def _merged(engine: PostingEngine, scratch: dict[str, Any]) -> list[MergedWrite]:
    found: list[MergedWrite] = []
    first = engine.sql.first_free_param
    for merge in engine.write_merges:
        part = merge(scratch, first)
        if part is not None:
            found.append(part)
            first += len(part.params)
    return found


async def _extras(conn: AsyncConnection, done: list[Op]) -> None:
    for op in done:
        if op.extra is not None:
            try:
                await op.extra(conn, op.records)
            except Exception as exc:
                raise OpFailed(op, exc) from exc


# ---- pinning a failure on one operation --------------------------------------------------


def owner(ops: list[Op], reference: str | None) -> Op | None:
    if reference is None:
        return None
    for op in ops:
        if any(r.reference == reference for r in op.records):
            return op
    return None


def record_for(op: Op, reference: str | None) -> TransactionRecord:
    return next(r for r in op.records if r.reference == reference)


def is_transient(exc: BaseException) -> bool:
    original = getattr(exc, "orig", None) or exc
    state = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    return state in TRANSIENT_SQLSTATES


def translate(exc: BaseException, op: Op) -> BaseException:
    if isinstance(exc, ReferenceTaken):
        for record in op.records:
            if exc.reference in (None, record.reference):
                return duplicate_error(record)
        return DuplicateReference("reference has already been used")
    if isinstance(exc, sa.exc.IntegrityError) and "reference" in str(exc.orig or exc):
        return DuplicateReference("reference has already been used")
    return exc
