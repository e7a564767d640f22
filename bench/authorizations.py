"""Virtual card authorization throughput: approvals per second over HTTP on PostgreSQL, with p99.

Each authorization is a ledger hold (card balance -> ``@CardNetwork``, the hot balance every hold
credits) with its ``auth_`` row, due-work job and ``card.authorization.approved`` event written in
the same database transaction. The cards have a per-authorization limit and no per-day limit, so
an approval's rows ride in the engine's own write statement (a per-day limit adds a conditional
insert, one more statement per batch).

    python -m bench.authorizations --cards 2000 --duration 20 --connections 64 --workers 1

One worker is the default: on this 2-core machine two workers measured slower with a longer tail
(1,967/s, p99 70 ms against 2,485/s, p99 41 ms on 2026-11-22): their batches queue for the one
``@CardNetwork`` row lock, and the second process competes with PostgreSQL and wrk for the cores.

It creates a fresh PostgreSQL database, starts ``tally serve`` on a free port, issues and funds
the cards over HTTP, drives ``POST /virtual-cards/{id}/authorizations`` for random cards with
``wrk``, then checks that every approval is held on the ledger and that the ledger balances.
Target (issue 6): >= 2,000 authorizations/s with p99 <= 50 ms at 64 connections. The result is
printed as one JSON object (and returned by ``run``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from typing import Any
from urllib.parse import urlparse

import httpx
import sqlalchemy as sa

from bench.common import run_wrk_over_ids, stop_server, warm_up
from tally.store.database import Database

ADMIN_URL = os.environ.get("TALLY_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
FUNDS = 10**12  # minor units per card: no authorization is declined for lack of funds

SCRIPT = """
local ids = {}
for line in io.lines("%(ids)s") do ids[#ids + 1] = line end
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) %% 100000)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local body = '{"amount":' .. math.random(100, 9000) .. ',"currency":"USD",'
    .. '"merchant_id":"' .. math.random(1, 500) .. '","merchant_name":"bench"}'
  return wrk.format(nil, "/virtual-cards/" .. ids[math.random(#ids)] .. "/authorizations",
                    nil, body)
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def admin(sql: str) -> None:
    db = Database(ADMIN_URL)
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text(sql))
    await db.dispose()


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TALLY_DATABASE_URL": url,
        "TALLY_RUN_WORKERS": "false",
        "TALLY_LOG_LEVEL": "warning",
        "TALLY_HOST": "127.0.0.1",
        "TALLY_ENV": "development",
    }
    env.pop("TALLY_MASTER_KEY", None)
    command = [
        sys.executable,
        "-c",
        "from tally.cli.main import app; app()",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def wait_healthy(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                detail = server.stderr.read().decode()[-2000:] if server.stderr else ""
                raise RuntimeError(f"tally serve exited: {detail}")
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("tally serve did not become healthy within 60 s")


async def issue_cards(base: str, cards: int, concurrency: int = 32) -> list[str]:
    async with httpx.AsyncClient(
        base_url=base,
        timeout=60,
        # Idle connections close before the server drops them (its keep-alive is 5 s).
        limits=httpx.Limits(max_connections=concurrency, keepalive_expiry=1.0),
    ) as client:
        holder = (await client.post("/identities", json={"first_name": "Bench"})).json()
        made: list[str] = []
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                card = await client.post(
                    "/virtual-cards",
                    json={
                        "holder": holder["identity_id"],
                        "currency": "USD",
                        "limits": {"per_authorization": 10_000},
                    },
                )
                card.raise_for_status()
                funded = await client.post(
                    "/transactions",
                    json={
                        "precise_amount": FUNDS,
                        "currency": "USD",
                        "reference": f"bench-fund-{i}",
                        "source": "@World",
                        "destination": card.json()["balance_id"],
                    },
                )
                funded.raise_for_status()
                made.append(card.json()["card_id"])

        await asyncio.gather(*(one(i) for i in range(cards)))
    return made


async def check(url: str) -> dict[str, Any]:
    db = Database(url)
    async with db.read() as conn:
        by_status = dict(
            (
                await conn.execute(
                    sa.text("SELECT status, count(*) FROM card_authorizations GROUP BY status")
                )
            ).all()
        )
        pending = (
            await conn.execute(
                sa.text(
                    "SELECT coalesce(sum(amount), 0) FROM card_authorizations "
                    "WHERE status = 'PENDING'"
                )
            )
        ).scalar_one()
        held = (
            await conn.execute(
                sa.text(
                    "SELECT coalesce(sum(b.inflight_debit_balance), 0) FROM balances b "
                    "JOIN virtual_cards c ON c.balance_id = b.balance_id"
                )
            )
        ).scalar_one()
        totals = (
            await conn.execute(
                sa.text(
                    "SELECT currency, sum(balance), sum(inflight_balance) FROM balances "
                    "GROUP BY currency"
                )
            )
        ).all()
    await db.dispose()
    return {
        "approved": int(by_status.get("PENDING", 0)),
        "declined": int(by_status.get("DECLINED", 0)),
        "holds_match_ledger": int(pending) == int(held),
        "ledger_balanced": all(int(a) == 0 and int(b) == 0 for _, a, b in totals),
    }


async def run(
    *,
    cards: int,
    duration: int,
    connections: int,
    threads: int,
    workers: int,
    keep_database: bool = False,
) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("the authorization benchmark needs wrk (apt-get install wrk)")
    name = f"tally_bench_auth_{uuid.uuid4().hex[:8]}"
    await admin(f'CREATE DATABASE "{name}"')
    url = urlparse(ADMIN_URL)._replace(path=f"/{name}").geturl()
    port = free_port()
    server = start_server(url, port, workers)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(base, server)
        started = time.monotonic()
        ids = await issue_cards(base, cards)
        await warm_up(url, base, SCRIPT, ids, connections=connections, threads=threads)
        setup_seconds = time.monotonic() - started
        measured = await asyncio.to_thread(
            run_wrk_over_ids,
            base,
            SCRIPT,
            ids,
            duration=duration,
            connections=connections,
            threads=threads,
        )
        result = {
            "scenario": "cards.authorizations",
            "cards": cards,
            "duration_seconds": duration,
            "connections": connections,
            "server_workers": workers,
            "setup_seconds": round(setup_seconds, 1),
            **measured,
        }
        # Checked once the server has stopped: requests still in flight when wrk's window
        # closed are finished by then, so the counts below are final and consistent.
        stop_server(server)
        result.update(await check(url))
        # The rate is wrk's: answers within its window (each one a 2xx when non_2xx is 0);
        # the database's count also holds the warm-up and the requests wrk left in flight.
        result["approved_per_second"] = round(float(measured["wrk_requests_per_second"]), 1)
        return result
    finally:
        stop_server(server)
        if not keep_database:
            await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--cards", type=int, default=2_000)
    parser.add_argument("--duration", type=int, default=20, help="seconds of load")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=1, help="tally serve worker processes")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args(argv)
    result = asyncio.run(
        run(
            cards=args.cards,
            duration=args.duration,
            connections=args.connections,
            threads=args.threads,
            workers=args.workers,
            keep_database=args.keep_database,
        )
    )
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
