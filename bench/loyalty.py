"""Loyalty throughput scenario: completed payments that earn, for many members of one program.

Every award comes from the program's one issuing balance (the hot balance), so this measures the
posting engine's batching under the loyalty write path (member resolution, rules, the earn's
ledger transaction, points transaction, lot and outbox events in one database transaction).

    python -m bench.loyalty --members 10000 --duration 20 --workers 2

It creates a fresh PostgreSQL database with the program and its members (through the service
functions the API calls; not measured), starts ``tally serve`` on a free port, then drives
``POST /payments`` (``status: completed``, a random member's ``customer``) with ``wrk`` and
checks the ledger afterwards. The result is printed as
one JSON object (and returned by ``run``) so the benchmark runner can collect it.
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
from tally.services import Services
from tally.settings import Settings
from tally.store import loyalty_members, loyalty_programs
from tally.store.database import Database
from tally.store.migrate import upgrade

ADMIN_URL = os.environ.get("TALLY_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RULE = {"name": "base", "type": "rate", "currency": "eur", "points": 1, "per_amount": 100}

LUA = """
local ids = {}
for line in io.lines("%(ids)s") do ids[#ids + 1] = line end
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) %% 100000)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local amount = math.random(100, 20000)
  local body = '{"amount":' .. amount .. ',"currency":"eur","status":"completed","customer":"'
    .. ids[math.random(#ids)] .. '"}'
  return wrk.format(nil, "/payments", nil, body)
end
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _admin(sql: str) -> None:
    db = Database(ADMIN_URL)
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text(sql))
    await db.dispose()


def _database_url(name: str) -> str:
    return urlparse(ADMIN_URL)._replace(path=f"/{name}").geturl()


def _start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TALLY_DATABASE_URL": url,
        "TALLY_RUN_WORKERS": "false",
        "TALLY_LOG_LEVEL": "warning",
        "TALLY_PORT": str(port),
        "TALLY_HOST": "127.0.0.1",
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


async def _wait_healthy(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(
                    f"tally serve exited: {server.stderr.read().decode()[-2000:]}"
                    if server.stderr
                    else "tally serve exited"
                )
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("tally serve did not become healthy within 60 s")


async def _setup(url: str, members: int, concurrency: int = 32) -> tuple[str, list[str]]:
    """The program and its members, through the same service functions the API calls."""
    services = Services.build(Settings(database_url=url, auto_migrate=False, run_workers=False))
    await services.start()
    try:
        program = (
            await loyalty_programs.create_program(
                services, {"name": "Bench", "point_unit": "PTS", "earning_rules": [RULE]}
            )
        )["id"]
        customers: list[str] = []
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                customer = (
                    await loyalty_members.create_customer(services, {"name": f"member {i}"})
                )["id"]
                await loyalty_members.create_account(
                    services, {"program": program, "customer": customer}
                )
                customers.append(customer)

        await asyncio.gather(*(one(i) for i in range(members)))
    finally:
        await services.stop()
    return program, customers


async def _check(url: str, program: str) -> dict[str, Any]:
    db = Database(url)
    async with db.read() as conn:
        completed = (
            await conn.execute(
                sa.text(
                    "SELECT count(*), coalesce(sum(points_earned), 0) FROM payments "
                    "WHERE status = 'completed'"
                )
            )
        ).one()
        issuing = (
            await conn.execute(
                sa.text(
                    "SELECT b.balance FROM balances b JOIN loyalty_programs p "
                    "ON p.issuing_balance_id = b.balance_id WHERE p.program_id = :p"
                ),
                {"p": program},
            )
        ).scalar_one()
        totals = (
            await conn.execute(
                sa.text("SELECT currency, sum(balance) FROM balances GROUP BY currency")
            )
        ).all()
    await db.dispose()
    return {
        "completed_payments": int(completed[0]),
        "points_earned": int(completed[1]),
        "issuing_balance": int(issuing),
        "ledger_balanced": all(int(total) == 0 for _, total in totals),
    }


async def run(
    *,
    members: int,
    duration: int,
    connections: int,
    threads: int,
    workers: int,
    keep_database: bool = False,
) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("the loyalty benchmark needs wrk (apt-get install wrk)")
    name = f"tally_bench_loyalty_{uuid.uuid4().hex[:8]}"
    await _admin(f'CREATE DATABASE "{name}"')
    url = _database_url(name)
    await asyncio.to_thread(upgrade, url)
    started = time.monotonic()
    program, customers = await _setup(url, members)
    setup_seconds = time.monotonic() - started
    port = _free_port()
    server = _start_server(url, port, workers)
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_healthy(base, server)
        await warm_up(url, base, LUA, customers, connections=connections, threads=threads)
        measured = await asyncio.to_thread(
            run_wrk_over_ids,
            base,
            LUA,
            customers,
            duration=duration,
            connections=connections,
            threads=threads,
        )
        result = {
            "scenario": "loyalty.completed_payments",
            "members": members,
            "duration_seconds": duration,
            "connections": connections,
            "server_workers": workers,
            "setup_seconds": round(setup_seconds, 1),
            **measured,
        }
        # Checked once the server has stopped: requests still in flight when wrk's window
        # closed are finished by then, so the counts below are final and consistent.
        stop_server(server)
        result.update(await _check(url, program))
        # The rate is wrk's: answers within its window (each one a 2xx when non_2xx is 0);
        # the database's count also holds the warm-up and the requests wrk left in flight.
        result["completed_payments_per_second"] = round(
            float(measured["wrk_requests_per_second"]), 1
        )
        result["points_match_ledger"] = result["points_earned"] == -result["issuing_balance"]
        return result
    finally:
        stop_server(server)
        if not keep_database:
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=20, help="seconds of load")
    parser.add_argument("--connections", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="tally serve worker processes")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args(argv)
    result = asyncio.run(
        run(
            members=args.members,
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
