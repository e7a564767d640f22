"""The in-process engine: postings/s through ``tally.Ledger`` (the embedded API), no HTTP.

Many tasks call ``ledger.transfer`` concurrently, each awaiting its own answer, as an application
that embeds the ledger would; the engine groups them (group commit). Every posting is planned
(``plan_transfer``) and applied exactly as over HTTP: funds checked, rows, balances and outbox
events written. Besides postings/s it reports the CPU each posting cost in this Python process and
in the PostgreSQL backends, which says which side is the limit.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
import uvloop

import tally
from tally.core.ids import GENERAL_LEDGER_ID, new_id
from tally.core.ledger.records import BalanceRecord
from tally.store import ledger_repo

from .common import PgTarget, analyze, cpu_seconds

DATABASE = "tally_bench_engine"
FUNDING = 10_000_000
T = TypeVar("T")


async def run_engine(
    url: str, *, balances: int, seconds: float, concurrency: int, log: Any = print
) -> dict[str, Any]:
    store = "postgresql" if url.startswith("postgres") else "sqlite"
    async with tally.Ledger.open(url, tune_gc=True) as ledger:
        ids = await _open_balances(ledger, balances)
        await _fund(ledger, ids)
        if store == "postgresql":
            await analyze(url)  # the steady state: statistics that know the rows
        results: dict[str, Any] = {"store": store, "balances": balances, "concurrency": concurrency}
        for mode in ("distinct", "hot"):
            await _drive(ledger, ids, mode, seconds=2, concurrency=concurrency)  # warm-up
            figures = await _drive(ledger, ids, mode, seconds=seconds, concurrency=concurrency)
            results[mode] = figures
            log(
                f"  engine {store:<10} {mode:<8}: {figures['postings_per_s']:9.0f} postings/s "
                f"(avg batch {figures['avg_batch']:.0f}, python {figures['python_us']:.0f} us"
                f" + postgres {figures['postgres_us']:.0f} us CPU per posting)"
            )
        report = await ledger.verify()
        results["verify_consistent"] = report.consistent
        results["transactions"] = report.transactions
    return results


async def _open_balances(ledger: tally.Ledger, count: int) -> list[str]:
    now = ledger.services.clock.now()
    ids = []
    async with ledger.services.db.write() as conn:
        for _ in range(count):
            record = BalanceRecord(new_id("bln"), GENERAL_LEDGER_ID, "USD", now)
            await ledger_repo.insert_balance(conn, record, now=now)
            ids.append(record.balance_id)
    return ids


async def _fund(ledger: tally.Ledger, ids: list[str]) -> None:
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        await ledger.transfer_many(
            [tally.Transfer("@World", b, FUNDING, "USD", new_id("fund"), 100) for b in chunk]
        )


async def _drive(
    ledger: tally.Ledger, ids: list[str], mode: str, *, seconds: float, concurrency: int
) -> dict[str, Any]:
    engine = ledger.engine
    prefix = uuid.uuid4().hex[:8]
    rng = random.Random(prefix)
    done = 0
    deadline = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            if mode == "hot":
                source, destination = "@Store", rng.choice(ids)
            else:
                source, destination = rng.sample(ids, 2)
            await ledger.transfer(
                source,
                destination,
                rng.randint(1, 1000),
                currency="USD",
                precision=100,
                reference=f"{prefix}-{done}-{rng.random()}",
                description="bench transfer",
                meta_data={"channel": "bench"},
            )
            done += 1

    backends = await _backend_pids(ledger)
    pg_before, py_before = cpu_seconds(backends), time.process_time()
    batches, ops = engine.batches, engine.ops
    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    python_cpu = time.process_time() - py_before
    pg_cpu = cpu_seconds(backends) - pg_before
    batch_count = max(engine.batches - batches, 1)
    return {
        "postings": done,
        "seconds": round(elapsed, 2),
        "postings_per_s": round(done / elapsed, 1),
        "avg_batch": round((engine.ops - ops) / batch_count, 1),
        "python_us": round(1e6 * python_cpu / max(done, 1), 1),
        "postgres_us": round(1e6 * pg_cpu / max(done, 1), 1),
    }


async def _backend_pids(ledger: tally.Ledger) -> list[int]:
    db = ledger.services.db
    if not db.is_postgres:
        return []
    async with db.read() as conn:
        rows = await conn.execute(
            sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        )
        return [int(pid) for (pid,) in rows]


def run_on_uvloop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop, the event loop ``tally serve`` uses (and embedders should)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def run_engine_benchmarks(
    pg: PgTarget, *, balances: int, seconds: float, concurrency: int, log: Any = print
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    url = asyncio.run(pg.recreate(DATABASE))
    try:
        results["postgresql"] = run_on_uvloop(
            run_engine(url, balances=balances, seconds=seconds, concurrency=concurrency, log=log)
        )
    finally:
        asyncio.run(pg.drop(DATABASE))
    with tempfile.TemporaryDirectory(prefix="tally-bench-") as folder:
        sqlite_url = f"sqlite:///{Path(folder) / 'engine.db'}"
        results["sqlite"] = run_on_uvloop(
            run_engine(
                sqlite_url, balances=balances, seconds=seconds, concurrency=concurrency, log=log
            )
        )
    return results
