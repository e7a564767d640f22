"""Webhook delivery throughput: signed deliveries per second to one endpoint, and their CPU.

A fresh PostgreSQL database and a ``tally serve`` on a free port (loopback endpoints allowed);
one Standard Webhooks receiver on this machine, which checks every signature with the
``standardwebhooks`` library and answers 204 at once. The endpoint subscribes to
``transaction.applied``; ``--events`` postings are made with ``POST /transactions/bulk`` (100 a
request, a few hundred milliseconds in all), so the figure is the relay's: from the first posting
until every event has been received, with the relay's defaults (16 deliveries in flight per
endpoint). Every event must arrive exactly once, verified.

    python -m bench.webhooks --events 4000

Measured 2026-12-04 on the 2-core VM of the README: 513-543 deliveries/s, 1.7-1.8 ms of the
server's CPU per delivery (about half of it in httpx, the HTTP client).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from standardwebhooks import Webhook

from bench.common import PgTarget, cpu_seconds
from bench.http_bench import Server

DATABASE = "tally_bench_webhooks"
ADMIN_URL = os.environ.get("TALLY_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


class Receiver:
    """A Standard Webhooks endpoint: verifies each delivery and keeps its event id."""

    def __init__(self) -> None:
        self.secret = ""
        self.arrived: list[str] = []
        self.forged = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                try:
                    event = Webhook(receiver.secret).verify(body, dict(self.headers))
                    with receiver._lock:
                        receiver.arrived.append(str(event["id"]))
                    status = 204
                except Exception:
                    with receiver._lock:
                        receiver.forged += 1
                    status = 400
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            # The relay opens up to 16 connections at once; socketserver listens with a backlog
            # of 5 and the kernel would drop the handshakes beyond it (a retry 5 s later).
            request_queue_size = 128
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()


async def _post_events(base: str, balance_id: str, count: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        for start in range(0, count, 100):
            transactions = [
                {
                    "amount": 1,
                    "precision": 1,
                    "reference": f"hook-{start + i}",
                    "currency": "USD",
                    "source": "@World",
                    "destination": balance_id,
                    "allow_overdraft": True,
                }
                for i in range(min(100, count - start))
            ]
            answer = await client.post("/transactions/bulk", json={"transactions": transactions})
            answer.raise_for_status()


def run(*, events: int, timeout: float, admin_url: str = ADMIN_URL) -> dict[str, Any]:
    pg = PgTarget(admin_url)
    url = asyncio.run(pg.recreate(DATABASE))
    receiver = Receiver()
    server = Server(url, workers=1, extra_env={"TALLY_ALLOW_LOOPBACK_WEBHOOKS": "true"})
    try:
        with httpx.Client(base_url=server.base) as client:
            ledger = client.post("/ledgers", json={"name": "Webhooks"}).json()
            balance = client.post(
                "/balances", json={"ledger_id": ledger["ledger_id"], "currency": "USD"}
            ).json()
            endpoint = client.post(
                "/webhooks/endpoints",
                json={
                    "url": f"http://127.0.0.1:{receiver.port}/hook",
                    "event_types": ["transaction.applied"],
                },
            ).json()
        receiver.secret = endpoint["secret"]
        started, cpu_before = time.monotonic(), cpu_seconds(server.pids())
        asyncio.run(_post_events(server.base, balance["balance_id"], events))
        posted = time.monotonic() - started
        while len(receiver.arrived) < events and time.monotonic() - started < timeout:
            time.sleep(0.02)
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(server.pids()) - cpu_before
        received = len(receiver.arrived)
        distinct = len(set(receiver.arrived))
        return {
            "scenario": "webhooks.deliveries",
            "events": events,
            "posting_seconds": round(posted, 2),
            "received": received,
            "distinct_events": distinct,
            "forged": receiver.forged,
            "all_delivered_once": received == distinct == events and receiver.forged == 0,
            "seconds": round(elapsed, 2),
            "deliveries_per_second": round(received / elapsed, 1),
            "server_cpu_us_per_delivery": round(1e6 * cpu / max(received, 1)),
        }
    finally:
        server.stop()
        receiver.stop()
        asyncio.run(pg.drop(DATABASE))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=4_000)
    parser.add_argument(
        "--duration", type=float, default=60, help="seconds to wait for every delivery at most"
    )
    parser.add_argument("--pg-url", default=ADMIN_URL, help="a PostgreSQL superuser URL")
    args = parser.parse_args(argv)
    result = run(events=args.events, timeout=max(args.duration, 60), admin_url=args.pg_url)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
