"""Extras that only queue rows (``queues_only``) on both stores.

On PostgreSQL their rows ride in the engine's own write statement (``write_merges``); on SQLite
the ``before_commit`` hook writes them. Either way each extra runs exactly once per attempt, the
rows land with the postings or not at all, and one extra's failure fails its own request only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.errors import DuplicateReference
from tally.core.ledger.records import TransactionRecord
from tally.store import loyalty_writes
from tally.store import tables as t
from tally.store.database import Database
from tally.store.engine import Op, Post, PostingEngine
from tally.store.loyalty_writes import WriteSet
from tally.store.outbox import event_row

from .engine_helpers import NOW, balance, open_balances, plan


@pytest.fixture
async def engine(db: Database) -> AsyncIterator[PostingEngine]:
    eng = PostingEngine(db)
    loyalty_writes.install(eng)
    yield eng
    await eng.stop()


def queue_event(calls: list[str], name: str, *, fail: bool = False) -> Any:
    """An extra that queues one event row named ``name`` (and counts its calls)."""

    async def extra(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
        calls.append(name)
        if fail:
            raise RuntimeError(f"{name} refused")
        out = WriteSet()
        out.event("test.queued", {"name": name}, now=NOW, subject_id=records[0].transaction_id)
        await out.flush(conn)

    return extra


async def _queued(db: Database) -> list[str]:
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(t.events.c.payload).where(t.events.c.type == "test.queued")
        )
        return sorted(row[0]["name"] for row in rows)


async def test_queued_rows_land_with_their_postings_and_each_extra_runs_once(
    db: Database, engine: PostingEngine
) -> None:
    alice, bob = await open_balances(db, 2, overdraft=True)
    calls: list[str] = []
    nothing: list[str] = []

    async def queues_nothing(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
        nothing.append(records[0].reference)

    ops = [
        Op([Post(plan(alice, bob, 10))], extra=queue_event(calls, "a"), queues_only=True),
        Op([Post(plan(alice, bob, 20))], extra=queue_event(calls, "b"), queues_only=True),
        Op([Post(plan(bob, alice, 5))]),
    ]
    await engine.run(ops)

    assert all(op.error is None for op in ops)
    assert calls == ["a", "b"]
    assert await _queued(db) == ["a", "b"]
    assert (await balance(db, bob))["balance"] == 25

    alone = Op([Post(plan(alice, bob, 1))], extra=queues_nothing, queues_only=True)
    await engine.run([alone])
    assert alone.error is None and len(nothing) == 1  # run once, though it queued nothing


async def test_one_extra_failing_fails_its_request_alone(
    db: Database, engine: PostingEngine
) -> None:
    alice, bob = await open_balances(db, 2, overdraft=True)
    calls: list[str] = []
    ops = [
        Op([Post(plan(alice, bob, 10))], extra=queue_event(calls, "a"), queues_only=True),
        Op(
            [Post(plan(alice, bob, 20))], extra=queue_event(calls, "x", fail=True), queues_only=True
        ),
        Op([Post(plan(alice, bob, 30))], extra=queue_event(calls, "c"), queues_only=True),
    ]
    await engine.run(ops)

    assert [type(op.error).__name__ if op.error else None for op in ops] == [
        None,
        "RuntimeError",
        None,
    ]
    assert await _queued(db) == ["a", "c"]  # the failed attempt's queue left nothing behind
    assert (await balance(db, bob))["balance"] == 40


async def test_a_mixed_batch_keeps_the_extras_after_the_write(
    db: Database, engine: PostingEngine
) -> None:
    """One extra that sends its own statement (not ``queues_only``) keeps the whole batch on the
    ordinary order: write first, then the extras, then the queued rows."""
    alice, bob = await open_balances(db, 2, overdraft=True)
    calls: list[str] = []
    seen: list[int] = []

    async def reads_its_row(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
        query = sa.select(sa.func.count()).where(
            t.transactions.c.transaction_id == records[0].transaction_id
        )
        seen.append(int((await conn.execute(query)).scalar_one()))

    ops = [
        Op([Post(plan(alice, bob, 10))], extra=queue_event(calls, "a"), queues_only=True),
        Op([Post(plan(alice, bob, 20))], extra=reads_its_row),
    ]
    await engine.run(ops)

    assert all(op.error is None for op in ops)
    assert seen == [1]  # its posting's row was written before it ran
    assert calls == ["a"] and await _queued(db) == ["a"]


async def test_a_queued_row_refused_by_its_table_fails_its_request_not_as_a_reference(
    db: Database, engine: PostingEngine
) -> None:
    """A unique violation in a queued table (not the transactions' reference) is the request's
    own failure: the batch is replayed one request at a time and only that one fails, with the
    database's error rather than a "reference already used"."""
    alice, bob = await open_balances(db, 2, overdraft=True)

    def same_event(tag: str) -> Any:
        async def extra(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
            out = WriteSet()
            row = event_row("test.queued", {"name": tag}, now=NOW, subject_id="s")
            out.insert(t.events, {**row, "event_id": "evt_fixed"})
            await out.flush(conn)

        return extra

    ops = [
        Op([Post(plan(alice, bob, 10))], extra=same_event("first"), queues_only=True),
        Op([Post(plan(alice, bob, 20))], extra=same_event("second"), queues_only=True),
    ]
    await engine.run(ops)

    assert ops[0].error is None
    assert ops[1].error is not None
    assert not isinstance(ops[1].error, DuplicateReference)
    assert await _queued(db) == ["first"]
    assert (await balance(db, bob))["balance"] == 10
