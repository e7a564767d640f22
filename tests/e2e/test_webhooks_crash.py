"""Nothing is lost when processes die, and nothing is sent twice when workers share the work.

- The server (API + relay in one process) is killed with SIGKILL while clients are posting and
  webhooks are being delivered; after a restart every committed transaction and balance has
  exactly one event, and every event reaches the receiver at least once.
- A separate ``tally worker`` is killed with SIGKILL mid-delivery; a new worker delivers the rest.
- Two workers against one PostgreSQL deliver each event exactly once (no failures injected).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .. import support
from .webhook_support import (
    Process,
    Receiver,
    Server,
    add_endpoint,
    free_port,
    new_wallet,
    query,
    receiver,
    tally_env,
    wait_for,
)

pytestmark = pytest.mark.slow


class Poster:
    """Client threads posting transactions until stopped or the server goes away."""

    def __init__(
        self, base_url: str, wallet: str, *, threads: int = 4, limit: int | None = None
    ) -> None:
        self.base_url, self.wallet, self.limit = base_url, wallet, limit
        self.ok: list[str] = []
        self.unknown: list[str] = []
        self.started = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as http:
            while not self._stop.is_set():
                with self._lock:
                    if self.limit is not None and self.started >= self.limit:
                        return
                    self.started += 1
                ref = f"crash-{uuid.uuid4().hex}"
                try:
                    response = http.post(
                        "/transactions",
                        json={
                            "precise_amount": 1,
                            "currency": "USD",
                            "reference": ref,
                            "source": "@World",
                            "destination": self.wallet,
                        },
                    )
                except httpx.TransportError:
                    with self._lock:
                        self.unknown.append(ref)
                    return
                with self._lock:
                    (self.ok if response.status_code == 201 else self.unknown).append(ref)

    def join(self) -> None:
        """Stop posting now (in-flight requests still finish)."""
        self._stop.set()
        self.finish()

    def finish(self) -> None:
        """Wait for the threads to end (by ``limit``, a stop, or the server going away)."""
        for thread in self._threads:
            thread.join(timeout=60)


@pytest.fixture(params=["sqlite", "postgres"])
def database(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path
) -> Iterator[str]:
    if request.param == "sqlite":
        yield support.fresh_sqlite(sqlite_template, tmp_path)
        return
    if not support.postgres_reachable():
        if support.IN_CI:
            pytest.fail("PostgreSQL is not reachable (CI=true: PostgreSQL tests must run)")
        pytest.skip("PostgreSQL is not reachable")
    url = support.create_postgres_database("wh")
    try:
        yield url
    finally:
        support.drop_postgres_database(url)


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as running:
        yield running


def check_nothing_lost(database: str, hooks: Receiver, path: str, posted: list[str]) -> None:
    """Every committed change has exactly one event; every event reached the receiver."""
    refs = {row.reference for row in query(database, "SELECT reference FROM transactions")}
    assert set(posted) <= refs, "a transaction answered 201 is missing"
    per_transaction = query(
        database,
        """
        SELECT t.transaction_id, COUNT(e.id) AS n FROM transactions t
        LEFT JOIN events e ON e.subject_id = t.transaction_id AND e.type LIKE 'transaction.%'
        GROUP BY t.transaction_id""",
    )
    assert per_transaction and {row.n for row in per_transaction} == {1}
    per_balance = query(
        database,
        """
        SELECT b.balance_id, COUNT(e.id) AS n FROM balances b
        LEFT JOIN events e ON e.subject_id = b.balance_id AND e.type = 'balance.created'
        GROUP BY b.balance_id""",
    )
    assert {row.n for row in per_balance} == {1}
    orphans = query(
        database,
        """
        SELECT e.event_id FROM events e LEFT JOIN transactions t
        ON t.transaction_id = e.subject_id
        WHERE e.type LIKE 'transaction.%' AND t.transaction_id IS NULL""",
    )
    assert orphans == []
    every = {row.event_id for row in query(database, "SELECT event_id FROM events")}
    wait_for(
        lambda: hooks.ids(path) >= every,
        timeout=90,
        what=f"all {len(every)} events at the receiver",
    )


def test_the_server_killed_mid_flight_loses_nothing(
    database: str, hooks: Receiver, tmp_path: Path
) -> None:
    env = tally_env(database, TALLY_WEBHOOK_TIMEOUT_SECONDS="1")
    path = "/all"
    server = Server(env, tmp_path / "first.log")
    try:
        add_endpoint(server.http, hooks, path)
        hooks.delay[path] = 0.005
        wallet = new_wallet(server.http, "crash")
        poster = Poster(server.base_url, wallet)
        wait_for(
            lambda: len(poster.ok) >= 60 and len(hooks.at(path)) >= 20,
            timeout=60,
            what="posting and delivering to be under way",
        )
        server.kill()
        poster.join()
        assert poster.unknown, "the kill should have cut some requests short"
    finally:
        if server.popen.poll() is None:
            server.kill()
    restarted = Server(env, tmp_path / "second.log")
    try:
        more = Poster(restarted.base_url, wallet, threads=2, limit=10)
        more.finish()
        assert len(more.ok) == 10
        check_nothing_lost(database, hooks, path, poster.ok + more.ok)
    finally:
        restarted.stop()


def test_a_worker_killed_mid_delivery_is_taken_over(
    database: str, hooks: Receiver, tmp_path: Path
) -> None:
    env = tally_env(database, TALLY_WEBHOOK_TIMEOUT_SECONDS="1")
    path = "/worker"
    server = Server(env, tmp_path / "serve.log", "--no-background-workers")
    worker = Process(["worker"], env, tmp_path / "worker-1.log")
    try:
        add_endpoint(server.http, hooks, path)
        hooks.delay[path] = 0.05
        wallet = new_wallet(server.http, "worker")
        poster = Poster(server.base_url, wallet, threads=2, limit=60)
        wait_for(lambda: len(hooks.at(path)) >= 10, timeout=60, what="the worker to deliver")
        worker.kill()
        poster.finish()
        assert len(poster.ok) == 60
        stalled = len(hooks.at(path))
        second = Process(["worker"], env, tmp_path / "worker-2.log")
        try:
            check_nothing_lost(database, hooks, path, poster.ok)
            assert len(hooks.at(path)) > stalled
        finally:
            second.stop()
    finally:
        if worker.popen.poll() is None:
            worker.kill()
        server.stop()


def test_two_workers_deliver_each_event_once(hooks: Receiver, tmp_path: Path) -> None:
    if not support.postgres_reachable():
        if support.IN_CI:
            pytest.fail("PostgreSQL is not reachable (CI=true: PostgreSQL tests must run)")
        pytest.skip("PostgreSQL is not reachable")
    database = support.create_postgres_database("wh2")
    env = tally_env(database)
    path = "/shared"
    server = Server(env, tmp_path / "serve.log", "--no-background-workers")
    workers = [Process(["worker"], env, tmp_path / f"worker-{n}.log") for n in range(2)]
    try:
        add_endpoint(server.http, hooks, path, ["transaction.applied"])
        wallet = new_wallet(server.http, "shared")
        poster = Poster(server.base_url, wallet, threads=4, limit=200)
        poster.finish()
        assert len(poster.ok) == 200
        wait_for(lambda: len(hooks.ids(path)) == 200, timeout=90, what="200 deliveries")
        settled = "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE state = 'succeeded'"
        wait_for(
            lambda: query(database, settled)[0].n == 200, timeout=30, what="every delivery recorded"
        )
        assert len(hooks.at(path)) == 200, "an event was delivered twice"
        sent_ok = query(database, "SELECT COUNT(*) AS n FROM webhook_attempts WHERE succeeded")
        assert sent_ok[0].n == 200  # a failed attempt (a refused connection) may be retried
        assert {d.event["data"]["reference"] for d in hooks.at(path)} == set(poster.ok)
    finally:
        for worker in workers:
            worker.stop()
        server.stop()
        support.drop_postgres_database(database)


def test_a_worker_serves_its_own_metrics(database: str, hooks: Receiver, tmp_path: Path) -> None:
    env = tally_env(database)
    path = "/metrics-worker"
    port = free_port()
    server = Server(env, tmp_path / "serve.log", "--no-background-workers")
    worker = Process(["worker", "--metrics-port", str(port)], env, tmp_path / "worker.log")
    try:
        add_endpoint(server.http, hooks, path, ["transaction.applied"])
        wallet = new_wallet(server.http, "metrics")
        poster = Poster(server.base_url, wallet, threads=2, limit=20)
        poster.finish()
        assert len(poster.ok) == 20
        wait_for(lambda: len(hooks.ids(path)) == 20, timeout=60, what="20 deliveries")

        def delivered() -> float:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            for line in text.splitlines():
                if line.startswith('tally_webhook_attempts_total{result="succeeded"}'):
                    return float(line.split()[-1])
            return 0.0

        # Recorded a moment after the receiver answered.
        wait_for(lambda: delivered() == 20, timeout=30, what="20 attempts in the worker's metrics")
        # The API process ran no relay: its own metrics count no attempt.
        assert (
            'tally_webhook_attempts_total{result="succeeded"}'
            not in server.http.get("/metrics").text
        )
    finally:
        worker.stop()
        server.stop()
