"""Many processes, one PostgreSQL: four OS processes, each with its own engine, post at once.

They share balances (a hot ``@Store`` among them), race to commit and void the same holds, to refund
the same transactions and to use the same references. Afterwards: every reference was applied once,
no hold gave out more than it held, nothing was lost or applied twice, no process saw a deadlock or
any error but the business answers, and ``verify_store`` finds the books exact.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from tally.core.errors import (
    AlreadyCommitted,
    AlreadyRefunded,
    AlreadyVoided,
    CommitAmountExceeded,
    DuplicateReference,
    InsufficientFunds,
)
from tally.store import tables as t
from tally.store.database import Database
from tally.store.engine import PostingEngine
from tally.store.verify import verify_store

from .. import support
from .engine_helpers import open_balances, plan

PROCESSES = 4
MEMBERS = 40
SHARED_REFERENCES = 60
HOLDS = 40
REFUNDABLE = 30
TRANSFERS_PER_PROCESS = 400
EXPECTED_REFUSALS = (
    InsufficientFunds,
    DuplicateReference,
    AlreadyRefunded,
    AlreadyVoided,
    AlreadyCommitted,
    CommitAmountExceeded,
)


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    async def reset() -> None:
        db = Database(postgres_url)
        await support.reset_postgres(db)
        await db.dispose()

    asyncio.run(reset())
    yield postgres_url


async def _setup(url: str) -> dict[str, Any]:
    db = Database(url)
    engine = PostingEngine(db)
    members = await open_balances(db, MEMBERS)
    await engine.post_atomic([plan("@World", m, 50_000) for m in members])
    holds = []
    for i in range(HOLDS):
        [hold] = await engine.post(plan(members[i], members[-1 - i], 100, inflight=True))
        holds.append(hold.transaction_id)
    paid = []
    for i in range(REFUNDABLE):
        [row] = await engine.post(plan(members[i], members[i + 1], 25))
        paid.append(row.transaction_id)
    async with db.read() as conn:
        rows = (await conn.execute(sa.select(sa.func.count()).select_from(t.transactions))).scalar()
    await db.dispose()
    return {"members": members, "holds": holds, "paid": paid, "rows": int(rows or 0)}


def _worker(url: str, seed: int, setup: dict[str, Any], start: Any, results: Any) -> None:
    results.put(asyncio.run(_work(url, seed, setup, start)))


async def _work(url: str, seed: int, setup: dict[str, Any], start: Any) -> dict[str, Any]:
    db = Database(url, pool_size=4)
    engine = PostingEngine(db, max_batch=64)
    await engine.start()
    rng = random.Random(seed)
    members, holds, paid = setup["members"], setup["holds"], setup["paid"]
    calls: list[tuple[str, Any]] = []
    for i in range(TRANSFERS_PER_PROCESS):
        source, destination = rng.sample(members, 2)
        if i % 4 == 0:
            source = "@Store"
        elif i % 4 == 1:
            destination = "@Store"
        calls.append(("transfer", engine.post(plan(source, destination, rng.randint(1, 900)))))
    for n in range(SHARED_REFERENCES):
        shared = plan(members[n % MEMBERS], members[(n + 1) % MEMBERS], 7, reference=f"shared-{n}")
        calls.append(("shared", engine.post(shared)))
    for hold in holds:
        if rng.random() < 0.5:
            calls.append(("commit", engine.commit(hold, precise_amount=rng.choice([30, 60]))))
        else:
            calls.append(("void", engine.void(hold)))
    calls += [("refund", engine.refund(txn_id)) for txn_id in paid]
    rng.shuffle(calls)
    start.wait(120)  # all four processes begin together
    outcomes = await asyncio.gather(*(call for _, call in calls), return_exceptions=True)
    await engine.stop()
    await db.dispose()
    done: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    unexpected = []
    written = 0
    for (kind, _), outcome in zip(calls, outcomes, strict=True):
        if isinstance(outcome, EXPECTED_REFUSALS):
            refused[f"{kind}:{type(outcome).__name__}"] += 1
        elif isinstance(outcome, BaseException):
            unexpected.append(f"{kind}: {type(outcome).__name__}: {outcome}")
        else:
            done[kind] += 1
            written += len(outcome)
    return {
        "done": dict(done),
        "refused": dict(refused),
        "unexpected": unexpected,
        "written": written,
    }


@pytest.mark.slow
def test_four_processes_posting_at_once_keep_the_books_exact(pg_url: str) -> None:
    setup = asyncio.run(_setup(pg_url))
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(PROCESSES)
    results = context.Queue()
    workers = [
        context.Process(target=_worker, args=(pg_url, seed, setup, start, results))
        for seed in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0

    assert [r["unexpected"] for r in reports] == [[]] * PROCESSES
    done = sum((Counter(r["done"]) for r in reports), Counter())
    assert done["shared"] == SHARED_REFERENCES
    assert done["refund"] == REFUNDABLE
    assert done["transfer"] > 0
    written = sum(r["written"] for r in reports)
    asyncio.run(_check_store(pg_url, setup, written))


async def _check_store(url: str, setup: dict[str, Any], written: int) -> None:
    db = Database(url)
    tx = t.transactions.c
    async with db.read() as conn:
        total = (
            await conn.execute(sa.select(sa.func.count()).select_from(t.transactions))
        ).scalar()
        shared = (
            await conn.execute(
                sa.select(tx.reference, sa.func.count())
                .where(tx.reference.like("shared-%"))
                .group_by(tx.reference)
            )
        ).all()
        refunds = (
            await conn.execute(
                sa.select(tx.parent_transaction, sa.func.count())
                .where(tx.kind == "refund")
                .group_by(tx.parent_transaction)
            )
        ).all()
        settled = (
            await conn.execute(
                sa.select(tx.parent_transaction, sa.func.sum(tx.precise_amount))
                .where(tx.kind.in_(["commit", "void"]))
                .group_by(tx.parent_transaction)
            )
        ).all()
    report = await verify_store(db)
    await db.dispose()
    assert total == setup["rows"] + written  # nothing lost, nothing applied twice
    assert len(shared) == SHARED_REFERENCES and all(count == 1 for _, count in shared)
    assert sorted(parent for parent, _ in refunds) == sorted(setup["paid"])
    assert all(count == 1 for _, count in refunds)
    assert {parent for parent, _ in settled} == set(setup["holds"])
    assert all(int(amount) <= 100 for _, amount in settled)
    assert report.consistent, report.discrepancies[:5]
