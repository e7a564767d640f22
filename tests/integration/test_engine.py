"""The posting engine's group commit, on both stores: one batch, many callers, separate outcomes.

Most tests hand a batch straight to ``engine.run`` so that what shares one database transaction is
certain, not a matter of timing.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.errors import (
    AlreadyRefunded,
    AlreadyVoided,
    BalanceNotFound,
    CommitAmountExceeded,
    CurrencyMismatch,
    DuplicateReference,
    InsufficientFunds,
    TransactionNotFound,
)
from tally.core.ledger.balances import BalanceState
from tally.core.ledger.records import Kind, Status, TransactionRecord
from tally.store import tables as t
from tally.store.database import Database
from tally.store.engine import Commit, Op, Post, PostingEngine, Refund, Void
from tally.store.outbox import emit
from tally.store.verify import verify_store

from .engine_helpers import NOW, balance, count_rows, ledger_sums, open_balances, plan


@pytest.fixture
async def engine(db: Database) -> AsyncIterator[PostingEngine]:
    eng = PostingEngine(db)
    yield eng
    await eng.stop()


async def fund(engine: PostingEngine, balance_id: str, amount: int) -> None:
    await engine.post(plan("@World", balance_id, amount))


async def test_a_failing_posting_leaves_the_rest_of_its_batch_applied(
    db: Database, engine: PostingEngine
) -> None:
    alice, bob = await open_balances(db, 2)
    await fund(engine, alice, 100)
    first = Op([Post(plan(alice, bob, 60, reference="pay-1"))])
    too_much = Op([Post(plan(alice, bob, 60, reference="pay-2"))])
    unknown = Op([Post(plan("bln_missing", bob, 5, reference="pay-3"))])
    rest = Op([Post(plan(alice, bob, 40, reference="pay-4"))])
    again = Op([Post(plan(alice, bob, 1, reference="pay-1"))])
    batches = engine.batches

    await engine.run([first, too_much, unknown, rest, again])

    assert engine.batches == batches + 1
    assert first.error is None and rest.error is None
    assert isinstance(too_much.error, InsufficientFunds)
    assert "has 40 available, 60 requested" in too_much.error.message
    assert isinstance(unknown.error, BalanceNotFound)
    assert isinstance(again.error, DuplicateReference)
    assert (await balance(db, alice))["balance"] == 0
    assert (await balance(db, bob))["balance"] == 100
    assert await count_rows(db, t.transactions) == 3
    assert await count_rows(db, t.events, t.events.c.type == "transaction.applied") == 3
    assert (await verify_store(db)).consistent


async def test_a_reference_is_applied_once_across_batches(
    db: Database, engine: PostingEngine
) -> None:
    alice, bob = await open_balances(db, 2)
    await fund(engine, alice, 10)
    await engine.post(plan(alice, bob, 1, reference="once"))
    with pytest.raises(DuplicateReference):
        await engine.post(plan(alice, bob, 1, reference="once"))
    assert (await balance(db, bob))["balance"] == 1


async def test_an_atomic_request_is_all_or_nothing_inside_a_batch(
    db: Database, engine: PostingEngine
) -> None:
    alice, bob, carol = await open_balances(db, 3)
    await fund(engine, alice, 50)
    atomic = Op([Post(plan(alice, bob, 30)), Post(plan(alice, carol, 30))])
    neighbour = Op([Post(plan(alice, carol, 50))])

    await engine.run([atomic, neighbour])

    assert isinstance(atomic.error, InsufficientFunds)
    assert neighbour.error is None
    assert (await balance(db, bob))["balance"] == 0
    assert (await balance(db, carol))["balance"] == 50


async def test_holds_are_committed_and_voided_by_the_same_batching(
    db: Database, engine: PostingEngine
) -> None:
    card, shop = await open_balances(db, 2)
    await fund(engine, card, 100)
    [hold] = await engine.post(plan(card, shop, 100, inflight=True))
    assert hold.status == Status.INFLIGHT
    part = Op([Commit(hold.transaction_id, precise_amount=30)])
    more = Op([Commit(hold.transaction_id, precise_amount=30)])
    rest = Op([Void(hold.transaction_id)])

    await engine.run([part, more, rest])

    assert part.error is None and more.error is None and rest.error is None
    assert [r.reference for r in part.records + more.records + rest.records] == [
        f"{hold.reference}-commit-1",
        f"{hold.reference}-commit-2",
        f"{hold.reference}-void",
    ]
    assert rest.records[0].precise_amount == 40
    assert (await balance(db, card)) | {"version": 0} == {
        "balance": 40,
        "credit": 100,
        "debit": 60,
        "inflight_credit": 0,
        "inflight_debit": 0,
        "version": 0,
    }
    with pytest.raises(AlreadyVoided):
        await engine.commit(hold.transaction_id)
    assert (await verify_store(db)).consistent


async def test_two_commits_in_one_batch_cannot_take_more_than_the_hold(
    db: Database, engine: PostingEngine
) -> None:
    card, shop = await open_balances(db, 2)
    await fund(engine, card, 50)
    [hold] = await engine.post(plan(card, shop, 50, inflight=True))
    first = Op([Commit(hold.transaction_id, precise_amount=30)])
    second = Op([Commit(hold.transaction_id, precise_amount=30)])

    await engine.run([first, second])

    assert first.error is None
    assert isinstance(second.error, CommitAmountExceeded)
    assert (await balance(db, shop))["balance"] == 30
    assert (await balance(db, shop))["inflight_credit"] == 20


async def test_a_transaction_is_refunded_once_even_within_one_batch(
    db: Database, engine: PostingEngine
) -> None:
    alice, bob = await open_balances(db, 2)
    await fund(engine, alice, 20)
    [paid] = await engine.post(plan(alice, bob, 20))
    refund, twice = Op([Refund(paid.transaction_id)]), Op([Refund(paid.transaction_id)])
    missing = Op([Refund("txn_nothing")])

    await engine.run([refund, twice, missing])

    assert refund.error is None and refund.records[0].kind == Kind.REFUND
    assert isinstance(twice.error, AlreadyRefunded)
    assert isinstance(missing.error, TransactionNotFound)
    assert (await balance(db, alice))["balance"] == 20


async def test_an_extension_that_fails_fails_only_its_own_operation(
    db: Database, engine: PostingEngine
) -> None:
    alice, bob = await open_balances(db, 2)
    await fund(engine, alice, 100)

    async def broken(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
        raise ValueError("the module's own rule refused it")

    async def noted(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
        await emit(conn, "test.noted", {"id": records[0].transaction_id}, now=NOW)

    refused = Op([Post(plan(alice, bob, 10))], extra=broken)
    plain = Op([Post(plan(alice, bob, 20))])
    extended = Op([Post(plan(alice, bob, 30))], extra=noted)

    await engine.run([refused, plain, extended])

    assert isinstance(refused.error, ValueError)
    assert plain.error is None and extended.error is None
    assert (await balance(db, bob))["balance"] == 50
    assert await count_rows(db, t.events, t.events.c.type == "test.noted") == 1
    assert await count_rows(db, t.transactions) == 3


async def test_after_apply_hooks_see_each_changed_balance_before_and_after(
    db: Database, engine: PostingEngine
) -> None:
    alice, bob = await open_balances(db, 2)
    seen: list[tuple[dict[str, BalanceState], dict[str, BalanceState]]] = []

    async def hook(conn: Any, before: Any, after: Any, now: Any) -> None:
        seen.append((before, after))

    engine.after_apply.append(hook)
    await fund(engine, alice, 70)
    await engine.run([Op([Post(plan(alice, bob, 30))]), Op([Post(plan(alice, bob, 5))])])

    before, after = seen[-1]
    assert set(after) == {alice, bob}
    assert (before[alice].balance, after[alice].balance) == (70, 35)
    assert (before[bob].balance, after[bob].balance) == (0, 35)


async def test_amounts_far_beyond_64_bits_stay_exact(db: Database, engine: PostingEngine) -> None:
    alice, bob = await open_balances(db, 2)
    huge = 2**90 + 7
    await fund(engine, alice, huge)
    await engine.post(plan(alice, bob, 2**70))
    assert (await balance(db, alice))["balance"] == huge - 2**70
    assert (await balance(db, bob))["credit"] == 2**70
    assert await ledger_sums(db) == {"USD": (0, 0)}


async def test_a_currency_mismatch_is_refused(db: Database, engine: PostingEngine) -> None:
    [dollars] = await open_balances(db, 1)
    [euros] = await open_balances(db, 1, currency="EUR")
    with pytest.raises(CurrencyMismatch):
        await engine.post(plan(dollars, euros, 1, allow_overdraft=True))


async def test_concurrent_callers_share_batches_and_keep_the_books_exact(
    db: Database, engine: PostingEngine
) -> None:
    members = await open_balances(db, 20)
    for member in members:
        await fund(engine, member, 1_000)
    await engine.start()
    batches = engine.batches
    rng = random.Random(7)
    plans = [plan(*rng.sample(members, 2), rng.randint(1, 300)) for _ in range(400)]
    plans += [plan("@Store", rng.choice(members), 5) for _ in range(100)]

    outcomes = await asyncio.gather(*(engine.post(p) for p in plans), return_exceptions=True)

    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert all(isinstance(o, InsufficientFunds) for o in failed)
    assert engine.batches - batches < len(plans) // 5
    applied = len(plans) - len(failed)
    assert await count_rows(db, t.transactions) == len(members) + applied
    assert await ledger_sums(db) == {"USD": (0, 0)}
    report = await verify_store(db)
    assert report.consistent, report.discrepancies


async def test_stopping_finishes_the_work_already_queued(
    db: Database, engine: PostingEngine
) -> None:
    alice, bob = await open_balances(db, 2)
    await fund(engine, alice, 100)
    await engine.start()
    posts = [asyncio.ensure_future(engine.post(plan(alice, bob, 1))) for _ in range(50)]
    await asyncio.sleep(0)
    await engine.stop()
    assert all(task.done() and task.exception() is None for task in posts)
    assert (await balance(db, bob))["balance"] == 50
    # after stop, calls still work: they run inline
    await engine.post(plan(alice, bob, 1))
    assert (await balance(db, bob))["balance"] == 51


async def test_a_reference_taken_by_another_process_fails_only_that_posting(
    store_url: str, db: Database, engine: PostingEngine
) -> None:
    """Two engines on one database: the second learns of the reference only from the database."""
    alice, bob, carol, dave = await open_balances(db, 4)
    await fund(engine, alice, 100)
    await fund(engine, carol, 100)
    other_db = Database(store_url)
    other = PostingEngine(other_db)
    entered, release = asyncio.Event(), asyncio.Event()

    async def hold_open(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
        entered.set()
        await release.wait()

    first = asyncio.ensure_future(
        engine.post(plan(alice, bob, 10, reference="shared"), extra=hold_open)
    )
    await entered.wait()
    racing = Op([Post(plan(carol, dave, 10, reference="shared"))])
    neighbour = Op([Post(plan(carol, dave, 15, reference="neighbour"))])
    second = asyncio.ensure_future(other.run([racing, neighbour]))
    if db.is_postgres:  # the second insert waits on the first's uncommitted reference
        await wait_for_a_lock_wait(db)
    release.set()
    await first
    await second
    await other_db.dispose()

    assert isinstance(racing.error, DuplicateReference)
    assert neighbour.error is None
    assert (await balance(db, dave))["balance"] == 15
    assert (await balance(db, bob))["balance"] == 10


async def wait_for_a_lock_wait(db: Database, within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while loop.time() < deadline:
        async with db.read() as conn:
            if (await conn.execute(query)).scalar_one():
                return
        await asyncio.sleep(0.01)
    raise AssertionError("the second batch never reached the database")


def test_sqlite_batch_writes_use_one_trip_to_the_driver_thread() -> None:
    """The one-hop write relies on aiosqlite's private ``_execute``/``_conn``: fail loudly if
    an upgrade removes them (the engine would silently fall back to three trips)."""
    import aiosqlite

    assert callable(getattr(aiosqlite.Connection, "_execute", None))
    assert isinstance(getattr(aiosqlite.Connection, "_conn", None), property)
