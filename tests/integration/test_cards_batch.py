"""Card approvals written once per engine batch, and the shared card reads, on both stores.

Many authorizations placed in one batch (several on one card) are approved with their rows, due
jobs and events written by the batch's one statement. A card blocked by another process after
this one cached it fails that statement; the engine replays the batch one authorization at a
time, the blocked card's authorizations are declined ``card_blocked`` and the others approved.
A card with a per-day limit keeps its conditional insert inside the same batch.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from tally.core.clock import FakeClock
from tally.services import Services
from tally.settings import Settings
from tally.store import cards_authorizations as auths
from tally.store import cards_issuing as issuing
from tally.store import cards_repo
from tally.store import tables as t
from tally.store import tables_cards as tc
from tally.store.database import Database
from tally.store.loyalty_lookup import driver_rows
from tally.store.tables_events import scheduled_jobs

from .batch_helpers import OneBatch, Writes
from .test_cards_holds import KEY, auth_body, card_with


@pytest.fixture
async def svc(store_url: str, clock: FakeClock) -> AsyncIterator[Services]:
    settings = Settings(
        database_url=store_url, auto_migrate=False, run_workers=False, card_encryption_key=KEY
    )
    services = Services.build(settings, clock=clock)
    await services.start()
    yield services
    await services.stop()


async def _count(svc: Services, table: sa.Table, **where: Any) -> int:
    query = sa.select(sa.func.count()).select_from(table)
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    async with svc.db.read() as conn:
        return int((await conn.execute(query)).scalar_one())


async def _held(svc: Services, card_id: str) -> int:
    return int((await issuing.get_virtual_card(svc, card_id))["balance"]["held"])


async def test_seven_authorizations_on_three_cards_in_one_batch(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    cards = [(await card_with(svc, 10_000))["card_id"] for _ in range(3)]
    wanted = [(cards[0], 100), (cards[1], 250), (cards[0], 300), (cards[2], 9_999)]
    wanted += [(cards[1], 1), (cards[0], 4_000), (cards[2], 1)]
    OneBatch(svc.engine, len(wanted)).install(monkeypatch)
    writes = Writes(monkeypatch)

    done = await asyncio.gather(*(auths.authorize(svc, c, auth_body(a)) for c, a in wanted))

    assert [d["status"] for d in done] == ["PENDING"] * 7
    assert writes.calls == [
        {
            "rows": {"card_authorizations": 7, "scheduled_jobs": 7, "events": 7},
            "guards": 3,  # one state check per card
            "failed": None,
        }
    ]
    # On PostgreSQL the rows ride in the engine's own write: no statement of their own.
    assert writes.merged == (1 if svc.db.is_postgres else 0)
    assert [await _held(svc, c) for c in cards] == [4_400, 251, 10_000]
    for d in done:
        stored = await auths.get_authorization(svc, d["card_id"], d["auth_id"])
        assert stored == d and stored["hold_transaction_id"]
    assert await _count(svc, scheduled_jobs, kind=auths.EXPIRY_JOB) == 7
    assert await _count(svc, t.events, type="card.authorization.approved") == 7


async def test_a_card_blocked_elsewhere_declines_alone_after_the_batch_replays(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, blocked = [(await card_with(svc, 10_000))["card_id"] for _ in range(2)]
    for card in (good, blocked):  # both cached here as ACTIVE
        assert (await auths.authorize(svc, card, auth_body(1)))["status"] == "PENDING"

    async def block_in_another_process() -> None:
        async with svc.db.write() as conn:
            await conn.execute(
                tc.virtual_cards.update()
                .where(tc.virtual_cards.c.card_id == blocked)
                .values(state="BLOCKED")
            )

    OneBatch(svc.engine, 5, before=block_in_another_process).install(monkeypatch)
    writes = Writes(monkeypatch)
    wanted = [good, blocked, good, blocked, good]

    done = await asyncio.gather(*(auths.authorize(svc, c, auth_body(100)) for c in wanted))

    outcome = [(d["status"], d["decline_reason"]) for d in done]
    assert outcome == [("PENDING", None), ("DECLINED", "card_blocked")] * 2 + [("PENDING", None)]
    assert writes.calls[0]["failed"] == "StalePlan"  # the batch's one statement
    assert Counter(c["failed"] for c in writes.calls[1:]) == {None: 3, "StalePlan": 2}
    assert (await _held(svc, good), await _held(svc, blocked)) == (301, 1)
    assert await _count(svc, tc.card_authorizations, card_id=blocked, status="PENDING") == 1
    assert await _count(svc, tc.card_authorizations, status="DECLINED") == 2
    assert await _count(svc, t.events, type="card.authorization.approved") == 5
    assert await _count(svc, scheduled_jobs, kind=auths.EXPIRY_JOB) == 5


async def test_a_per_day_limit_is_decided_in_order_within_the_batch(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    limited = (await card_with(svc, 10_000, limits={"per_day": 1_000}))["card_id"]
    free = (await card_with(svc, 10_000))["card_id"]
    OneBatch(svc.engine, 5).install(monkeypatch)
    writes = Writes(monkeypatch)
    wanted = [limited, free, limited, limited, free]

    done = await asyncio.gather(*(auths.authorize(svc, c, auth_body(400)) for c in wanted))

    by_card = Counter((d["card_id"] == limited, d["status"]) for d in done)
    assert by_card == {(True, "PENDING"): 2, (True, "DECLINED"): 1, (False, "PENDING"): 2}
    assert {d["decline_reason"] for d in done if d["status"] == "DECLINED"} == {"limit_exceeded"}
    assert (await _held(svc, limited), await _held(svc, free)) == (800, 800)
    assert await _count(svc, t.events, type="card.authorization.approved") == 4
    # A per-day limit reads and inserts in the batch: those rows keep a statement of their own.
    assert writes.merged == 0 and writes.calls


async def test_cards_read_by_the_driver_equal_cards_read_through_sqlalchemy(
    postgres_url: str,
) -> None:
    settings = Settings(
        database_url=postgres_url, auto_migrate=False, run_workers=False, card_encryption_key=KEY
    )
    svc = Services.build(settings)
    await svc.start()
    try:
        plain = (await card_with(svc, 100))["card_id"]
        rich = await card_with(
            svc,
            100,
            limits={"per_authorization": 5_000, "per_day": 2**70},
            merchant_lock=["58725", "12"],
            meta_data={"team": "ops"},
            details={"number": "4242424242424242", "exp_month": 12, "exp_year": 2031},
        )
        ids = [plain, rich["card_id"], "vcard_missing"]
        rows = await driver_rows(svc.db, cards_repo.PG_CARDS, ids)
        by_driver = {row["card_id"]: cards_repo.card_from_record(row) for row in rows}
        db: Database = svc.db
        async with db.read() as conn:
            by_sqlalchemy = await cards_repo.get_cards(conn, ids)
        assert set(by_driver) == {plain, rich["card_id"]}
        assert by_driver == by_sqlalchemy
        assert by_driver[rich["card_id"]].limits.per_day == 2**70
    finally:
        await svc.stop()
