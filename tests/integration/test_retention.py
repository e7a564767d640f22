"""Retention on both stores: old events, finished deliveries with their attempts, finished jobs
and idempotency keys go; the ledger, what the relay has not handed on, what a delivery still
names and everything inside the windows stay. Also the scheduler's pruning loop, the advisory
lock on PostgreSQL, ``--dry-run`` counts and ``tally prune``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from tally.cli.main import app as cli
from tally.core.clock import FakeClock
from tally.services import Services
from tally.settings import Settings
from tally.store import jobs_repo, retention
from tally.store import tables as t
from tally.store.database import Database
from tally.store.retention import Pruned, Retention
from tally.store.tables_events import scheduled_jobs, webhook_attempts, webhook_deliveries
from tally.store.verify import verify_store
from tally.workers.relay import Relay, RelayConfig
from tally.workers.scheduler import Scheduler, SchedulerConfig

from .engine_helpers import count_rows

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
URL = "http://127.0.0.1:9/hook"


class Receiver:
    def __init__(self) -> None:
        self.status = 200
        self.count = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        return httpx.Response(self.status)


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
async def relay(svc: Services, receiver: Receiver) -> AsyncIterator[Relay]:
    config = RelayConfig(schedule=(5.0, 60.0), max_age=timedelta(days=365), poll_seconds=0.02)
    worker = Relay(svc, config=config, transport=httpx.MockTransport(receiver), rand=lambda: 0.5)
    yield worker
    await worker.stop()


async def balance(api: httpx.AsyncClient) -> str:
    ledger = (await api.post("/ledgers", json={"name": "Shop"})).json()
    made = await api.post("/balances", json={"ledger_id": ledger["ledger_id"], "currency": "USD"})
    return str(made.json()["balance_id"])


async def pay(api: httpx.AsyncClient, destination: str, reference: str, **headers: str) -> None:
    answer = await api.post(
        "/transactions",
        json={
            "precise_amount": 500,
            "currency": "USD",
            "reference": reference,
            "source": "@World",
            "destination": destination,
        },
        headers=headers,
    )
    assert answer.status_code == 201, answer.text


async def remaining(db: Database) -> list[tuple[str, str]]:
    """The events left: (type, subject id), sorted."""
    async with db.read() as conn:
        found = await conn.execute(sa.select(t.events.c.type, t.events.c.subject_id))
        return sorted((str(kind), str(subject)) for kind, subject in found)


def balances_created(found: list[tuple[str, str]]) -> int:
    return sum(1 for kind, _ in found if kind == "balance.created")


async def finished_job(db: Database, subject: str, *, now: datetime) -> None:
    async with db.write() as conn:
        await jobs_repo.schedule(conn, "test.kind", subject, now, {}, now=now)
        await conn.execute(
            scheduled_jobs.update()
            .where(scheduled_jobs.c.subject_id == subject)
            .values(state=jobs_repo.JobState.DONE, finished_at=now)
        )


async def test_old_operational_rows_go_and_the_ledger_stays(
    svc: Services, api: httpx.AsyncClient, relay: Relay, receiver: Receiver, clock: FakeClock
) -> None:
    await api.post("/webhooks/endpoints", json={"url": URL, "event_types": ["transaction.*"]})
    bal = await balance(api)
    await pay(api, bal, "old-1", **{"Idempotency-Key": "k-old"})
    await pay(api, bal, "old-2")
    await finished_job(svc.db, "old-job", now=clock.now())
    await relay.run_once()
    assert receiver.count == 2
    db = svc.db
    assert (
        await count_rows(db, webhook_deliveries) == 2
        and await count_rows(db, webhook_attempts) == 2
    )

    clock.advance(timedelta(days=91))
    await pay(api, bal, "new-1", **{"Idempotency-Key": "k-new"})  # inside every window
    await finished_job(svc.db, "new-job", now=clock.now())
    await relay.run_once()
    events_before = await count_rows(db, t.events)
    transactions = await count_rows(db, t.transactions)

    expected = await retention.count(db, Retention(), now=clock.now())
    pruned = await retention.prune(db, Retention(), now=clock.now(), chunk=2)

    assert pruned == expected
    assert pruned.deliveries == 2 and pruned.attempts == 2 and pruned.jobs == 1
    assert pruned.idempotency_keys == 1 and not pruned.yielded
    # The old ledger's and payments' events went; the balances' own stay, as does the new payment's.
    assert pruned.events == events_before - 3
    left = await remaining(db)
    assert balances_created(left) == 2  # the balance and @World
    assert [subject for kind, subject in left if kind != "balance.created"] == [
        await _txn_id(db, "new-1")
    ]
    assert (
        await count_rows(db, webhook_deliveries) == 1
        and await count_rows(db, webhook_attempts) == 1
    )
    async with db.read() as conn:
        jobs = (await conn.execute(sa.select(scheduled_jobs.c.subject_id))).scalars().all()
        keys = (await conn.execute(sa.select(t.idempotency_keys.c.key))).scalars().all()
    assert list(jobs) == ["new-job"] and list(keys) == ["k-new"]
    # Never the ledger: every transaction is there and the books still add up.
    assert await count_rows(db, t.transactions) == transactions == 3
    assert (await verify_store(db)).consistent
    assert await retention.prune(db, Retention(), now=clock.now()) == Pruned()


async def _txn_id(db: Database, reference: str) -> str:
    async with db.read() as conn:
        found = await conn.execute(
            sa.select(t.transactions.c.transaction_id).where(
                t.transactions.c.reference == reference
            )
        )
        return str(found.scalar_one())


async def test_events_the_relay_has_not_handed_on_stay(
    svc: Services, api: httpx.AsyncClient, relay: Relay, clock: FakeClock
) -> None:
    await api.post("/webhooks/endpoints", json={"url": URL})
    bal = await balance(api)
    await pay(api, bal, "unsent-1")
    clock.advance(timedelta(days=200))
    assert (await retention.prune(svc.db, Retention(), now=clock.now())).events == 0
    # Handed on now: the deliveries made today name them, so they stay while those are kept.
    await relay.run_once()
    assert (await retention.prune(svc.db, Retention(), now=clock.now())).events == 0
    clock.advance(timedelta(days=91))
    pruned = await retention.prune(svc.db, Retention(), now=clock.now())
    assert pruned.deliveries == 4  # ledger, 2 balances, the payment
    assert pruned.events == 2  # a balance's own events are its overdraft history: they stay
    assert balances_created(await remaining(svc.db)) == await count_rows(svc.db, t.events) == 2


async def test_a_delivery_still_pending_keeps_itself_and_its_event(
    svc: Services, api: httpx.AsyncClient, relay: Relay, receiver: Receiver, clock: FakeClock
) -> None:
    await api.post("/webhooks/endpoints", json={"url": URL, "event_types": ["transaction.*"]})
    receiver.status = 500
    bal = await balance(api)
    await pay(api, bal, "failing-1")
    await relay.run_once()
    clock.advance(timedelta(days=100))
    pruned = await retention.prune(svc.db, Retention(), now=clock.now())
    assert pruned.deliveries == 0 and pruned.attempts == 0
    assert pruned.events == 1  # the ledger's: no delivery names it
    left = await remaining(svc.db)
    assert balances_created(left) == 2 and len(left) == 3
    assert ("transaction.applied", await _txn_id(svc.db, "failing-1")) in left
    assert await count_rows(svc.db, webhook_attempts) == 1


async def test_an_idempotency_key_is_free_again_after_its_window(
    svc: Services, api: httpx.AsyncClient, clock: FakeClock
) -> None:
    bal = await balance(api)
    await pay(api, bal, "idem-1", **{"Idempotency-Key": "same"})
    again = await api.post("/ledgers", json={"name": "Other"}, headers={"Idempotency-Key": "same"})
    assert again.status_code == 409
    # A key whose request never answered (its process died) would be "in progress" for ever.
    async with svc.db.write() as conn:
        await conn.execute(
            t.idempotency_keys.insert().values(
                scope="anonymous-orphan", key="orphan", request_hash="x", created_at=clock.now()
            )
        )
    clock.advance(timedelta(hours=23))
    assert (await retention.prune(svc.db, Retention(), now=clock.now())).idempotency_keys == 0
    clock.advance(timedelta(hours=2))
    assert (await retention.prune(svc.db, Retention(), now=clock.now())).idempotency_keys == 2
    reused = await api.post("/ledgers", json={"name": "Other"}, headers={"Idempotency-Key": "same"})
    assert reused.status_code == 201, reused.text


async def test_zero_keeps_for_ever(svc: Services, api: httpx.AsyncClient, clock: FakeClock) -> None:
    settings = Settings(event_retention_days=0, idempotency_retention_hours=0)
    keep = Retention.from_settings(settings)
    assert keep == Retention(events=None, idempotency_keys=None)
    bal = await balance(api)
    await pay(api, bal, "kept-1", **{"Idempotency-Key": "kept"})
    clock.advance(timedelta(days=3650))
    assert await retention.prune(svc.db, keep, now=clock.now()) == Pruned()
    assert await retention.count(svc.db, keep, now=clock.now()) == Pruned()


async def test_the_scheduler_prunes_on_its_own(
    svc: Services, api: httpx.AsyncClient, relay: Relay, clock: FakeClock
) -> None:
    await api.post("/webhooks/endpoints", json={"url": URL})
    await balance(api)
    await relay.run_once()
    clock.advance(timedelta(days=91))
    before = _metric("events")
    config = SchedulerConfig(
        poll_seconds=0.02, prune_every=timedelta(seconds=0.05), prune_after=timedelta(0)
    )
    scheduler = Scheduler(svc, config=config)
    await scheduler.start()
    try:
        for _ in range(200):
            if scheduler.pruned.events:
                break
            await asyncio.sleep(0.02)
    finally:
        await scheduler.stop()
    assert scheduler.pruned.deliveries == 2  # the ledger's and the balance's
    assert scheduler.pruned.events == 1 and await count_rows(svc.db, t.events) == 1
    assert _metric("events") == before + 1


def _metric(table: str) -> float:
    value = REGISTRY.get_sample_value("tally_pruned_rows_total", {"table": table})
    return value or 0.0


def test_the_windows_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Retention.from_settings(Settings.from_env()) == Retention(
        events=timedelta(days=90), idempotency_keys=timedelta(hours=24)
    )
    monkeypatch.setenv("TALLY_EVENT_RETENTION_DAYS", "7")
    monkeypatch.setenv("TALLY_IDEMPOTENCY_RETENTION_HOURS", "0")
    monkeypatch.setenv("TALLY_PRUNE_INTERVAL_SECONDS", "60")
    settings = Settings.from_env()
    assert Retention.from_settings(settings) == Retention(
        events=timedelta(days=7), idempotency_keys=None
    )
    assert settings.prune_interval_seconds == 60


async def test_a_scheduler_without_an_interval_never_prunes(
    svc: Services, api: httpx.AsyncClient, relay: Relay, clock: FakeClock
) -> None:
    await balance(api)
    await relay.run_once()
    clock.advance(timedelta(days=91))
    svc.settings = dataclasses.replace(svc.settings, prune_interval_seconds=0)
    scheduler = Scheduler(svc)
    assert scheduler.config.prune_every is None
    await scheduler.start()
    await asyncio.sleep(0.1)
    await scheduler.stop()
    assert scheduler.pruned == Pruned() and await count_rows(svc.db, t.events) == 2


async def test_on_postgresql_one_process_prunes_at_a_time(postgres_url: str) -> None:
    db = Database(postgres_url)
    other = Database(postgres_url)
    try:
        async with other.write() as conn:
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(retention.ADVISORY_KEY)))
            # Long ago: whatever the session's database holds is inside the windows.
            pruned = await retention.prune(db, Retention(), now=START - timedelta(days=3650))
            assert pruned.yielded and pruned.total == 0
        alone = await retention.prune(db, Retention(), now=START - timedelta(days=3650))
        assert not alone.yielded
    finally:
        await db.dispose()
        await other.dispose()


def test_tally_prune_counts_then_removes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tally.db'}"
    demo = CliRunner().invoke(cli, ["demo", "--database-url", url])
    assert demo.exit_code == 0, demo.output

    def prune(*args: str) -> dict[str, Any]:
        answer = CliRunner().invoke(cli, ["prune", "--database-url", url, "--json", *args])
        assert answer.exit_code == 0, answer.output
        return dict(json.loads(answer.output))

    # The demo ran no relay: its events stay whatever the window, its jobs are still pending.
    assert prune("--dry-run", "--event-days", "1")["events"] == 0
    _hand_on_and_age(url)
    counted = prune("--dry-run")
    assert counted["dry_run"] and counted["events"] > 0
    removed = prune()
    assert removed["events"] == counted["events"] and not removed["dry_run"]
    assert prune("--dry-run")["events"] == 0
    table = CliRunner().invoke(cli, ["prune", "--database-url", url], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "events handed on by the relay" in table.output
    assert "90 days" in table.output and "24 hours" in table.output
    verify = CliRunner().invoke(cli, ["verify", "--database-url", url])
    assert verify.exit_code == 0, verify.output


def _hand_on_and_age(url: str) -> None:
    """As if the relay had handed every event on, 100 days ago."""

    async def work() -> None:
        db = Database(url)
        try:
            async with db.write() as conn:
                top = (await conn.execute(sa.select(sa.func.max(t.events.c.id)))).scalar_one()
                old = datetime.now(UTC) - timedelta(days=100)
                await conn.execute(t.events.update().values(created_at=old))
                await conn.execute(
                    sa.text(
                        "INSERT INTO event_cursors (name, position, gaps, updated_at) "
                        "VALUES ('relay', :top, '[]', 0)"
                    ),
                    {"top": top},
                )
        finally:
            await db.dispose()

    asyncio.run(work())
