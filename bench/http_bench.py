"""Tally over HTTP: ``POST /transactions`` with Blnk's payload, driven by wrk, against PostgreSQL.

One ``tally serve`` process (``--workers N`` uvicorn workers) on a fresh database; 10,000 balances
are opened and funded over the API first. Then wrk runs ``bench/wrk/transfers.lua`` at 64
connections twice: between distinct random balances, and with every transfer from one hot
``@Store`` balance. For each run: transfers/s, latency percentiles, the server's memory during and
after, the CPU each transfer cost (server, PostgreSQL, wrk), and the check that the number of 201
answers equals the number of transaction rows written. After all runs ``tally verify`` must pass.

``--full`` then drives the server to 1,000,000 postings, reports its memory, and measures the
distinct case again with those rows in the store.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from tally.core.ids import new_id
from tally.core.ledger.records import BalanceRecord, LedgerRecord
from tally.store import ledger_repo
from tally.store.database import Database

from .common import PgTarget, analyze, children, cpu_seconds, rss_bytes, run, wait_until

DATABASE = "tally_bench_http"
LUA = Path(__file__).resolve().parent / "wrk" / "transfers.lua"
FUNDING = "100000"  # major units per balance


class Server:
    """``tally serve`` in a child process."""

    def __init__(self, url: str, *, workers: int, extra_env: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "TALLY_DATABASE_URL": url,
            "TALLY_LOG_LEVEL": "warning",
            **(extra_env or {}),
        }
        env.pop("TALLY_MASTER_KEY", None)
        command = [
            sys.executable,
            "-c",
            "from tally.cli.main import app; app()",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
        ]
        self.log = tempfile.NamedTemporaryFile(prefix="tally-serve-", suffix=".log")  # noqa: SIM115
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=self.log)
        wait_until(self._healthy, seconds=180, what="tally serve to answer /health")

    def tail(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-3000:]

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"tally serve exited: {self.tail()}")
        try:
            return httpx.get(f"{self.base}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def rss(self) -> int:
        return rss_bytes(self.process.pid)

    def pids(self) -> list[int]:
        return [self.process.pid, *children(self.process.pid)]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _seed(url: str, base: str, count: int) -> list[str]:
    """Open ``count`` balances (straight into the store: setting up is not what is measured),
    then fund each one over the API with atomic bulk requests."""
    db = Database(url)
    now = datetime.now(UTC)
    ids = []
    try:
        async with db.write() as conn:
            ledger = LedgerRecord(new_id("ldg"), "Bench", now)
            await ledger_repo.insert_ledger(conn, ledger, now=now)
            for _ in range(count):
                record = BalanceRecord(new_id("bln"), ledger.ledger_id, "USD", now)
                await ledger_repo.insert_balance(conn, record, now=now)
                ids.append(record.balance_id)
    finally:
        await db.dispose()
    transfers = [
        {
            "amount": float(FUNDING),
            "precision": 100,
            "currency": "USD",
            "reference": f"fund-{b}",
            "description": "funding",
            "source": "@World",
            "destination": b,
        }
        for b in ids
    ]
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        for start in range(0, len(transfers), 10_000):
            answer = await client.post(
                "/transactions/bulk",
                json={"atomic": True, "transactions": transfers[start : start + 10_000]},
            )
            answer.raise_for_status()
    return ids


def _wrk(
    base: str,
    ids_file: Path,
    mode: str,
    prefix: str,
    *,
    seconds: float,
    connections: int,
    threads: int,
) -> dict[str, Any]:
    out = run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{int(seconds) + 4}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            base,
            "--",
            str(ids_file),
            mode,
            prefix,
            str(int(seconds)),
            str(max(1, connections // threads)),
        ],
        timeout=seconds + 180,
    )
    line = next(line for line in out.splitlines() if line.startswith("WRKJSON "))
    return dict(json.loads(line[len("WRKJSON ") :]))


async def _count(url: str) -> int:
    db = Database(url)
    try:
        async with db.read() as conn:
            query = sa.text("SELECT count(*) FROM transactions")
            return int((await conn.execute(query)).scalar_one())
    finally:
        await db.dispose()


async def _written(url: str, prefix: str) -> tuple[int, float]:
    """Rows a run wrote, and the seconds between its first and its last (``created_at``)."""
    db = Database(url)
    try:
        async with db.read() as conn:
            count, first, last = (
                await conn.execute(
                    sa.text(
                        "SELECT count(*), min(created_at), max(created_at) FROM transactions "
                        "WHERE reference LIKE :p"
                    ),
                    {"p": f"{prefix}-%"},
                )
            ).one()
            return int(count), (int(last or 0) - int(first or 0)) / 1e6
    finally:
        await db.dispose()


async def _backends(url: str) -> list[int]:
    db = Database(url)
    try:
        async with db.read() as conn:
            rows = await conn.execute(
                sa.text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                )
            )
            return [int(pid) for (pid,) in rows]
    finally:
        await db.dispose()


def measure(
    server: Server,
    url: str,
    ids_file: Path,
    mode: str,
    *,
    seconds: float,
    connections: int,
    threads: int,
) -> dict[str, Any]:
    """One wrk run, with memory sampled during it and CPU counted on every side."""
    prefix = f"{mode}{uuid.uuid4().hex[:8]}"
    peak = [server.rss]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.25):
            peak[0] = max(peak[0], server.rss)

    sampler = threading.Thread(target=sample, daemon=True)
    backends = asyncio.run(_backends(url))
    server_cpu, pg_before = cpu_seconds(server.pids()), {p: cpu_seconds([p]) for p in backends}
    wrk_cpu = _children_cpu()
    sampler.start()
    result = _wrk(
        server.base,
        ids_file,
        mode,
        prefix,
        seconds=seconds,
        connections=connections,
        threads=threads,
    )
    stop.set()
    sampler.join()
    wrk_cpu = _children_cpu() - wrk_cpu
    server_cpu = cpu_seconds(server.pids()) - server_cpu
    # backends alive at both ends (a connection closed during the run takes its CPU with it)
    pg_after = {p: cpu_seconds([p]) for p in asyncio.run(_backends(url))}
    pg_cpu = sum(pg_after[p] - pg_before[p] for p in pg_after.keys() & pg_before.keys())
    time.sleep(1.0)
    created = int(result["statuses"].get("201", 0))
    rows, window = asyncio.run(_written(url, prefix))
    elapsed = max(window, 1e-3)
    latency = result["latency_us"]
    return {
        "mode": mode,
        "connections": connections,
        "seconds": round(elapsed, 2),
        "requests": result["requests"],
        "created_201": created,
        "other_statuses": {k: v for k, v in result["statuses"].items() if k != "201"},
        "socket_errors": result["errors"],
        "rows_written": rows,
        "rows_match_201": rows == created,
        "unanswered": result["unanswered"],
        "tail_gets_in_latency": result["tail_gets"],
        "transfers_per_s": round(created / elapsed, 1),
        "p50_ms": round(latency["p50"] / 1000, 2),
        "p90_ms": round(latency["p90"] / 1000, 2),
        "p99_ms": round(latency["p99"] / 1000, 2),
        "p999_ms": round(latency["p999"] / 1000, 2),
        "max_ms": round(latency["max"] / 1000, 2),
        "rss_peak_mb": round(peak[0] / 2**20, 1),
        "rss_after_mb": round(server.rss / 2**20, 1),
        "cpu_us_per_transfer": {
            "server": round(1e6 * server_cpu / max(created, 1), 1),
            "postgres": round(1e6 * pg_cpu / max(created, 1), 1),
            "wrk": round(1e6 * wrk_cpu / max(created, 1), 1),
        },
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def verify(url: str) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tally.cli.main import app; app()",
            "verify",
            "--database-url",
            url,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    report = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
    return {
        "exit_code": done.returncode,
        "consistent": bool(report.get("consistent")) and done.returncode == 0,
        "transactions": report.get("transactions"),
        "seconds": report.get("seconds"),
    }


def run_http(
    pg: PgTarget,
    *,
    seconds: float,
    connections: int = 64,
    threads: int = 2,
    workers: int = 1,
    balances: int = 10_000,
    full: bool = False,
    full_postings: int = 1_000_000,
    log: Any = print,
) -> dict[str, Any]:
    url = asyncio.run(pg.recreate(DATABASE))
    results: dict[str, Any] = {"workers": workers, "balances": balances}
    server = Server(url, workers=workers)
    try:
        results["rss_idle_mb"] = round(server.rss / 2**20, 1)
        with tempfile.TemporaryDirectory(prefix="tally-bench-") as folder:
            ids_file = Path(folder) / "balances.txt"
            started = time.perf_counter()
            try:
                ids = asyncio.run(_seed(url, server.base, balances))
            except httpx.HTTPError as exc:
                raise RuntimeError(
                    f"seeding failed ({exc!r}); server log: {server.tail()}"
                ) from exc
            ids_file.write_text("\n".join(ids) + "\n")
            results["seed_seconds"] = round(time.perf_counter() - started, 1)
            args = {"seconds": seconds, "connections": connections, "threads": threads}
            measure(server, url, ids_file, "distinct", **{**args, "seconds": min(5, seconds)})
            asyncio.run(analyze(url))  # the steady state: statistics that know the rows
            for mode in ("distinct", "hot"):
                figures = measure(server, url, ids_file, mode, **args)
                results[mode] = figures
                log(
                    f"  http {mode:<8} c={connections} workers={workers}: "
                    f"{figures['transfers_per_s']:8.1f}/s  p50 {figures['p50_ms']} ms  "
                    f"p99 {figures['p99_ms']} ms  rss {figures['rss_after_mb']} MB  "
                    f"201s {figures['created_201']} = rows {figures['rows_written']}"
                )
            if full:
                results["full"] = _full(server, url, ids_file, full_postings, args, log)
        results["verify"] = verify(url)
        log(f"  tally verify: {'passed' if results['verify']['consistent'] else 'FAILED'}")
    finally:
        server.stop()
        asyncio.run(pg.drop(DATABASE))
    return results


def _full(
    server: Server, url: str, ids_file: Path, target: int, args: dict[str, Any], log: Any
) -> dict[str, Any]:
    """Drive the server to ``target`` postings, then measure again with them in the store.

    The rows are posted through the server's engine with ``POST /transactions/bulk`` (1,000
    transfers per request, 4 at a time): the same engine path as single posts, faster to fill."""
    started = time.perf_counter()
    ids = ids_file.read_text().split()
    done = asyncio.run(_count(url))
    while done < target:
        asyncio.run(_fill(server.base, ids, min(target - done, 100_000)))
        done = asyncio.run(_count(url))
        log(f"  full: {done:,} transactions in the store")
    fill_seconds = time.perf_counter() - started
    time.sleep(2.0)
    rss_after = round(server.rss / 2**20, 1)
    again = measure(server, url, ids_file, "distinct", **args)
    log(
        f"  full: rss after {done:,} postings {rss_after} MB; distinct with them in the store "
        f"{again['transfers_per_s']}/s (p99 {again['p99_ms']} ms)"
    )
    return {
        "postings_target": target,
        "transactions_in_store": done,
        "fill_seconds": round(fill_seconds, 1),
        "rss_after_mb": rss_after,
        "distinct_with_rows": again,
    }


async def _fill(base: str, ids: list[str], count: int) -> None:
    rng = random.Random(count)
    prefix = f"fill{uuid.uuid4().hex[:8]}"
    chunks = [range(start, min(start + 1000, count)) for start in range(0, count, 1000)]

    async def poster(client: httpx.AsyncClient) -> None:
        while chunks:
            numbers = chunks.pop()
            items = []
            for n in numbers:
                source, destination = rng.sample(ids, 2)
                items.append(
                    {
                        "amount": rng.randint(1, 1000) / 100,
                        "precision": 100,
                        "currency": "USD",
                        "reference": f"{prefix}-{n}",
                        "description": "bench fill",
                        "source": source,
                        "destination": destination,
                        "meta_data": {"channel": "bench"},
                    }
                )
            answer = await client.post(
                "/transactions/bulk", json={"atomic": True, "transactions": items}
            )
            answer.raise_for_status()

    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        await asyncio.gather(*(poster(client) for _ in range(4)))
