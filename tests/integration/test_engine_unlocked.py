"""A batch applied in two trips (read, then a write that checks versions), and every way it falls
back to the locked way with nothing written twice or half (``engine_optimistic``).

The two-trip path exists on PostgreSQL only (SQLite has one writer and no row locks), so these
tests run there; the first one also checks that SQLite batches keep taking the write lock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa

from tally.core.errors import DuplicateReference, InsufficientFunds
from tally.core.events.monitors import parse_condition
from tally.metrics import UNLOCKED_BATCHES
from tally.store import tables as t
from tally.store.database import Database
from tally.store.engine import Commit, Op, Post, PostingEngine
from tally.store.engine_optimistic import Contention
from tally.store.engine_queue import Claim, Held
from tally.store.monitors_repo import check_monitors, create_monitor
from tally.store.verify import verify_store

from .. import support
from .engine_helpers import NOW, balance, count_rows, open_balances, plan


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[Database]:
    database = Database(postgres_url)
    await support.reset_postgres(database)
    yield database
    await database.dispose()


@pytest.fixture
async def engine(pg: Database) -> AsyncIterator[PostingEngine]:
    eng = PostingEngine(pg)
    eng.after_apply_watched.append(check_monitors)
    yield eng
    await eng.stop()


def alone() -> tuple[Claim, list[Claim]]:
    """The claim of a batch no other batch of its process is applying on the same balances."""
    return Held().claim(set())


def outcomes() -> dict[str, float]:
    return {
        sample.labels["outcome"]: sample.value
        for metric in UNLOCKED_BATCHES.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    }


def moved_since(before: dict[str, float]) -> dict[str, float]:
    now = outcomes()
    return {k: v - before.get(k, 0) for k, v in now.items() if v != before.get(k, 0)}


def between_read_and_write(engine: PostingEngine, meanwhile: Callable[[], Awaitable[None]]) -> None:
    """Run ``meanwhile`` (another process's work) once, right after the batch's read."""
    peek = engine.sql.peek

    async def peek_then(*args: Any) -> Any:
        found = await peek(*args)
        engine.sql.peek = peek  # type: ignore[method-assign]
        await meanwhile()
        return found

    engine.sql.peek = peek_then  # type: ignore[method-assign]


async def test_a_batch_alone_is_written_in_two_trips_on_postgresql(db: Database) -> None:
    engine = PostingEngine(db)
    alice, bob, carol = await open_balances(db, 3)
    await engine.post(plan("@World", alice, 100))
    before = outcomes()
    paid = Op([Post(plan(alice, bob, 60, reference="pay-1"))])
    too_much = Op([Post(plan(alice, carol, 50, reference="pay-2"))])
    taken = Op([Post(plan(alice, carol, 1, reference="pay-1"))])
    rest = Op([Post(plan(alice, carol, 40, reference="pay-3"))])

    await engine.run([paid, too_much, taken, rest], line=alone())

    assert paid.error is None and rest.error is None
    assert isinstance(too_much.error, InsufficientFunds)
    assert isinstance(taken.error, DuplicateReference)
    assert [(await balance(db, b))["balance"] for b in (alice, bob, carol)] == [0, 60, 40]
    assert await count_rows(db, t.events, t.events.c.subject_id == paid.records[0].transaction_id)
    # SQLite has one writer and no row locks: its batches always take the write lock.
    assert moved_since(before) == ({"applied": 1} if db.is_postgres else {})
    assert (await verify_store(db)).consistent


async def test_a_balance_moved_by_another_process_sends_the_batch_the_locked_way(
    pg: Database, engine: PostingEngine
) -> None:
    alice, bob = await open_balances(pg, 2)
    await engine.post(plan("@World", alice, 100))
    other = PostingEngine(pg)  # another process, same database

    async def spend() -> None:
        await other.post(plan(alice, bob, 70, reference="elsewhere"))

    between_read_and_write(engine, spend)
    before = outcomes()
    first = Op([Post(plan(alice, bob, 20, reference="here-1"))])
    second = Op([Post(plan(alice, bob, 20, reference="here-2"))])

    await engine.run([first, second], line=alone())

    # Read 100, but 70 left meanwhile: the checked write wrote nothing, the locked way saw 30.
    assert first.error is None and isinstance(second.error, InsufficientFunds)
    assert (await balance(pg, alice))["balance"] == 10
    assert await count_rows(pg, t.transactions, t.transactions.c.reference == "here-1") == 1
    expected = {"moved": 1}
    assert moved_since(before) == expected
    assert (await verify_store(pg)).consistent


async def test_a_reference_taken_meanwhile_fails_that_op_alone(
    pg: Database, engine: PostingEngine
) -> None:
    alice, bob, carol = await open_balances(pg, 3)
    await engine.post(plan("@World", alice, 100))
    other = PostingEngine(pg)

    async def take() -> None:
        await other.post(plan("@World", carol, 5, reference="order-7"))

    between_read_and_write(engine, take)
    before = outcomes()
    late = Op([Post(plan(alice, bob, 10, reference="order-7"))])
    fine = Op([Post(plan(alice, bob, 10, reference="order-8"))])

    await engine.run([late, fine], line=alone())

    assert isinstance(late.error, DuplicateReference) and fine.error is None
    assert (await balance(pg, alice))["balance"] == 90
    assert (await balance(pg, bob))["balance"] == 10
    assert moved_since(before) == ({"reference": 1})
    assert (await verify_store(pg)).consistent


async def test_a_watched_balance_keeps_its_monitor_in_the_batch_transaction(
    pg: Database, engine: PostingEngine
) -> None:
    alice, bob = await open_balances(pg, 2)
    await engine.post(plan("@World", alice, 100))
    async with pg.write() as conn:
        await create_monitor(
            conn,
            balance_id=bob,
            condition=parse_condition("balance", ">=", "0.5", 100),
            description="bob has 50",
            call_back_url="",
            meta_data={},
            now=NOW,
        )
    before = outcomes()

    await engine.run([Op([Post(plan(alice, bob, 60))])], line=alone())

    fired = t.events.c.type == "balance.monitor"
    assert await count_rows(pg, t.events, fired) == 1
    assert moved_since(before) == ({"watched": 1})


async def test_a_batch_behind_another_starts_from_its_states_and_writes_after_it(
    pg: Database, engine: PostingEngine
) -> None:
    alice, bob = await open_balances(pg, 2)
    await engine.post(plan("@World", alice, 100))
    held = Held()
    first_line = held.claim({alice, bob})
    second_line = held.claim({alice, bob})
    assert second_line[1] == [first_line[0]]
    first = Op([Post(plan(alice, bob, 60, reference="first"))])
    second = Op([Post(plan(alice, bob, 30, reference="second"))])
    over = Op([Post(plan(alice, bob, 20, reference="over"))])
    before = outcomes()

    await asyncio.gather(
        engine.run([second, over], line=second_line), engine.run([first], line=first_line)
    )

    # The second batch saw the first's 40 left, not the 100 it read: 30 fit, 20 more did not.
    assert first.error is None and second.error is None
    assert isinstance(over.error, InsufficientFunds)
    assert (await balance(pg, alice))["balance"] == 10
    assert moved_since(before) == {"applied": 2}
    assert (await verify_store(pg)).consistent


async def test_when_the_batch_before_does_not_commit_the_next_takes_the_locked_way(
    pg: Database, engine: PostingEngine
) -> None:
    alice, bob = await open_balances(pg, 2)
    await engine.post(plan("@World", alice, 100))
    other = PostingEngine(pg)

    async def spend() -> None:
        await other.post(plan(alice, bob, 70, reference="elsewhere"))

    between_read_and_write(engine, spend)  # the first batch's read, then another process
    held = Held()
    first_line = held.claim({alice, bob})
    second_line = held.claim({alice, bob})
    first = Op([Post(plan(alice, bob, 20, reference="first"))])
    second = Op([Post(plan(alice, bob, 20, reference="second"))])
    before = outcomes()

    await engine.run([first], line=first_line)
    await engine.run([second], line=second_line)

    # 100 read, 70 spent elsewhere: the first write found alice moved; the second had built on
    # it, so it went the locked way too and found 10 left after the first's 20.
    assert first.error is None and isinstance(second.error, InsufficientFunds)
    assert (await balance(pg, alice))["balance"] == 10
    assert moved_since(before) == {"moved": 1, "behind": 1}
    assert (await verify_store(pg)).consistent


async def test_commits_and_batches_not_alone_take_their_locks(
    pg: Database, engine: PostingEngine
) -> None:
    alice, bob = await open_balances(pg, 2)
    await engine.post(plan("@World", alice, 100))
    [hold] = await engine.post(plan(alice, bob, 30, inflight=True))
    before = outcomes()

    await engine.run([Op([Post(plan(alice, bob, 10))])])
    await engine.run([Op([Commit(hold.transaction_id)])], line=alone())

    assert moved_since(before) == {}
    assert (await balance(pg, bob))["balance"] == 40
    async with pg.read() as conn:
        inflight = await conn.scalar(
            sa.select(t.balances.c.inflight_debit_balance).where(t.balances.c.balance_id == alice)
        )
    assert inflight == 0


def test_when_most_two_trip_writes_find_a_balance_moved_batches_lock_for_a_while() -> None:
    contention = Contention()
    for _ in range(20):
        contention.record(moved=False)
    assert contention.allows()
    moves = 0
    while contention.allows():
        contention.record(moved=True)
        moves += 1
    assert moves == 7  # most of the recent writes moved: pause
    assert sum(not contention.allows() for _ in range(Contention.PAUSE - 1)) == Contention.PAUSE - 1
    assert contention.allows()  # then try again
    contention.record(moved=False)
    assert contention.allows()  # one write that went through is enough to go on
