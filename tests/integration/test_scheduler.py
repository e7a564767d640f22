"""The scheduler on both stores: expiring holds, scheduled transactions, and other modules' jobs.

The clock is a ``FakeClock``; the relay hands outbox events on (which creates the ledger's jobs)
and ``Scheduler.run_once`` runs whatever is due.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from tally.core.clock import FakeClock, format_timestamp
from tally.services import Services
from tally.store import jobs_repo
from tally.store.tables_events import scheduled_jobs
from tally.workers.relay import Relay
from tally.workers.scheduler import (
    Job,
    Scheduler,
    SchedulerConfig,
    register_job_handler,
    schedule,
)


@pytest.fixture
def scheduler(svc: Services) -> Scheduler:
    return Scheduler(svc, config=SchedulerConfig(max_attempts=3))


async def tick(svc: Services, scheduler: Scheduler) -> int:
    await Relay(svc).fan_out()
    return await scheduler.run_once()


async def wallet(api: Any, funds: int = 0) -> str:
    ledger = (await api.post("/ledgers", json={"name": "Wallets"})).json()
    made = await api.post("/balances", json={"ledger_id": ledger["ledger_id"], "currency": "EUR"})
    balance_id = str(made.json()["balance_id"])
    if funds:
        await api.post(
            "/transactions",
            json={
                "precise_amount": funds,
                "currency": "EUR",
                "reference": f"fund-{balance_id}",
                "source": "@World",
                "destination": balance_id,
            },
        )
    return balance_id


async def shown(api: Any, balance_id: str) -> dict[str, Any]:
    return dict((await api.get(f"/balances/{balance_id}")).json())


async def test_a_hold_is_voided_when_its_expiry_passes(
    api: Any, svc: Services, scheduler: Scheduler, clock: FakeClock
) -> None:
    card, shop = await wallet(api, funds=1000), await wallet(api)
    hold = (
        await api.post(
            "/transactions",
            json={
                "precise_amount": 300,
                "currency": "EUR",
                "reference": "auth-1",
                "source": card,
                "destination": shop,
                "inflight": True,
                "inflight_expiry_date": format_timestamp(clock.now() + timedelta(hours=1)),
            },
        )
    ).json()
    assert hold["status"] == "INFLIGHT"
    assert await tick(svc, scheduler) == 0
    assert (await shown(api, card))["inflight_debit_balance"] == 300
    clock.advance(timedelta(minutes=59))
    assert await tick(svc, scheduler) == 0
    clock.advance(timedelta(minutes=1))
    assert await tick(svc, scheduler) == 1
    after = await shown(api, card)
    assert after["inflight_debit_balance"] == 0 and after["balance"] == 1000
    voided = (await api.get("/events", params={"type": "transaction.voided"})).json()["data"]
    assert len(voided) == 1 and voided[0]["data"]["parent_transaction"] == hold["transaction_id"]
    assert voided[0]["data"]["meta_data"]["voided_by"] == "inflight_expiry"
    assert await tick(svc, scheduler) == 0


async def test_a_committed_hold_is_left_alone_at_expiry(
    api: Any, svc: Services, scheduler: Scheduler, clock: FakeClock
) -> None:
    card, shop = await wallet(api, funds=1000), await wallet(api)
    hold = (
        await api.post(
            "/transactions",
            json={
                "precise_amount": 300,
                "currency": "EUR",
                "reference": "auth-2",
                "source": card,
                "destination": shop,
                "inflight": True,
                "inflight_expiry_date": format_timestamp(clock.now() + timedelta(hours=1)),
            },
        )
    ).json()
    await api.put(f"/transactions/inflight/{hold['transaction_id']}", json={"status": "commit"})
    await tick(svc, scheduler)
    clock.advance(timedelta(hours=2))
    assert await tick(svc, scheduler) == 1
    assert (await shown(api, shop))["balance"] == 300
    assert (await api.get("/events", params={"type": "transaction.voided"})).json()["data"] == []


async def test_a_partly_committed_hold_releases_the_rest_at_expiry(
    api: Any, svc: Services, scheduler: Scheduler, clock: FakeClock
) -> None:
    card, shop = await wallet(api, funds=1000), await wallet(api)
    hold = (
        await api.post(
            "/transactions",
            json={
                "precise_amount": 300,
                "currency": "EUR",
                "reference": "auth-3",
                "source": card,
                "destination": shop,
                "inflight": True,
                "inflight_expiry_date": format_timestamp(clock.now() + timedelta(hours=1)),
            },
        )
    ).json()
    await api.put(
        f"/transactions/inflight/{hold['transaction_id']}",
        json={"status": "commit", "precise_amount": 100},
    )
    clock.advance(timedelta(hours=2))
    await tick(svc, scheduler)
    after = await shown(api, card)
    assert after["balance"] == 900 and after["inflight_debit_balance"] == 0


async def test_a_scheduled_transaction_applies_when_due(
    api: Any, svc: Services, scheduler: Scheduler, clock: FakeClock
) -> None:
    payer, payee = await wallet(api, funds=1000), await wallet(api)
    due = clock.now() + timedelta(days=1)
    planned = (
        await api.post(
            "/transactions",
            json={
                "precise_amount": 250,
                "currency": "EUR",
                "reference": "rent-march",
                "source": payer,
                "destination": payee,
                "scheduled_for": format_timestamp(due),
            },
        )
    ).json()
    assert planned["status"] == "SCHEDULED"
    await tick(svc, scheduler)
    assert (await shown(api, payee))["balance"] == 0
    clock.set(due)
    assert await tick(svc, scheduler) == 1
    assert (await shown(api, payee))["balance"] == 250
    applied = (await api.get("/transactions/reference/rent-march_applied")).json()
    assert applied["status"] == "APPLIED"
    assert applied["parent_transaction"] == planned["transaction_id"]
    assert await tick(svc, scheduler) == 0
    assert (await shown(api, payee))["balance"] == 250


async def test_a_scheduled_transaction_without_funds_is_rejected_once(
    api: Any, svc: Services, scheduler: Scheduler, clock: FakeClock
) -> None:
    payer, payee = await wallet(api, funds=100), await wallet(api)
    await api.post(
        "/transactions",
        json={
            "precise_amount": 250,
            "currency": "EUR",
            "reference": "too-much",
            "source": payer,
            "destination": payee,
            "scheduled_for": format_timestamp(clock.now() + timedelta(hours=1)),
        },
    )
    clock.advance(timedelta(hours=1))
    await tick(svc, scheduler)
    rejected = (await api.get("/transactions/reference/too-much_rejected")).json()
    assert rejected["status"] == "REJECTED"
    assert "insufficient funds" in rejected["meta_data"]["blnk_rejection_reason"]
    assert (await shown(api, payer))["balance"] == 100
    events = (await api.get("/events", params={"type": "transaction.rejected"})).json()["data"]
    assert [e["data"]["transaction_id"] for e in events] == [rejected["transaction_id"]]
    missing = await api.get("/transactions/reference/too-much_applied")
    assert missing.status_code == 404


async def test_other_modules_add_their_own_jobs(
    svc: Services, scheduler: Scheduler, clock: FakeClock
) -> None:
    seen: list[Job] = []

    async def release(services: Services, job: Job) -> None:
        seen.append(job)

    register_job_handler("test.release", release)
    done_before = jobs_metric("done")
    due = clock.now() + timedelta(minutes=30)
    async with svc.db.write() as conn:
        await schedule(conn, "test.release", "rdm_1", due, {"points": 40}, now=clock.now())
    assert await scheduler.run_once() == 0
    clock.set(due)
    assert await scheduler.run_once() == 1
    assert [(j.subject_id, j.payload, j.due_at) for j in seen] == [("rdm_1", {"points": 40}, due)]
    async with svc.db.read() as conn:
        job = await jobs_repo.get_job(conn, "test.release", "rdm_1")
    assert job is not None and job["state"] == "done"
    assert await scheduler.run_once() == 0
    assert jobs_metric("done") == done_before + 1


def jobs_metric(outcome: str) -> float:
    return REGISTRY.get_sample_value("tally_jobs_total", {"outcome": outcome}) or 0.0


async def test_rescheduling_moves_the_job_and_cancel_removes_it(
    svc: Services, scheduler: Scheduler, clock: FakeClock
) -> None:
    ran: list[str] = []

    async def handler(services: Services, job: Job) -> None:
        ran.append(job.subject_id)

    register_job_handler("test.move", handler)
    async with svc.db.write() as conn:
        await schedule(conn, "test.move", "a", clock.now() + timedelta(minutes=1))
        await schedule(conn, "test.move", "a", clock.now() + timedelta(hours=1))
        await schedule(conn, "test.move", "b", clock.now() + timedelta(minutes=1))
        assert await jobs_repo.cancel(conn, "test.move", "b", now=clock.now())
    clock.advance(timedelta(minutes=5))
    assert await scheduler.run_once() == 0
    clock.advance(timedelta(hours=1))
    assert await scheduler.run_once() == 1 and ran == ["a"]


async def test_a_failing_job_is_retried_with_backoff_then_fails(
    svc: Services, scheduler: Scheduler, clock: FakeClock
) -> None:
    calls: list[datetime] = []

    async def flaky(services: Services, job: Job) -> None:
        calls.append(services.clock.now())
        raise RuntimeError("partner API down")

    register_job_handler("test.flaky", flaky)
    retried, failed = jobs_metric("retried"), jobs_metric("failed")
    async with svc.db.write() as conn:
        await schedule(conn, "test.flaky", "x", clock.now())
    for _ in range(10):
        await scheduler.run_once()
        clock.advance(timedelta(seconds=30))
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(calls)]
    assert len(calls) == 3 and gaps == [30, 60]
    async with svc.db.read() as conn:
        job = await jobs_repo.get_job(conn, "test.flaky", "x")
    assert job is not None and job["state"] == "failed"
    assert job["attempts"] == 3 and "partner API down" in job["last_error"]
    assert (jobs_metric("retried"), jobs_metric("failed")) == (retried + 2, failed + 1)


async def test_a_job_without_a_handler_waits(
    svc: Services, scheduler: Scheduler, clock: FakeClock
) -> None:
    async with svc.db.write() as conn:
        await schedule(conn, "test.unknown_kind", "x", clock.now())
    assert await scheduler.run_once() == 1
    async with svc.db.read() as conn:
        job = await jobs_repo.get_job(conn, "test.unknown_kind", "x")
    assert job is not None and job["state"] == "pending" and job["attempts"] == 0
    assert "no handler" in job["last_error"]


async def test_a_claimed_job_is_not_claimed_again_until_its_lease_ends(
    svc: Services, clock: FakeClock
) -> None:
    async with svc.db.write() as conn:
        await schedule(conn, "test.lease", "x", clock.now())
    lease = timedelta(minutes=5)
    async with svc.db.write() as conn:
        first = await jobs_repo.claim(
            conn, now=clock.now(), limit=10, lease=lease, skip_locked=svc.db.is_postgres
        )
    async with svc.db.write() as conn:
        second = await jobs_repo.claim(
            conn, now=clock.now(), limit=10, lease=lease, skip_locked=svc.db.is_postgres
        )
    assert len(first) == 1 and second == []
    clock.advance(lease)  # the worker died: the job is due again
    async with svc.db.write() as conn:
        third = await jobs_repo.claim(
            conn, now=clock.now(), limit=10, lease=lease, skip_locked=svc.db.is_postgres
        )
        await jobs_repo.finish(conn, first[0], now=clock.now())  # the stale lease changes nothing
    assert len(third) == 1 and third[0].attempts == 2
    async with svc.db.read() as conn:
        state = (await conn.execute(sa.select(scheduled_jobs.c.state))).scalar_one()
    assert state == "pending"
