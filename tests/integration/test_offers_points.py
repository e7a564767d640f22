"""Pay with Points holds, return periods and due work (scheduler), on both stores."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tally.core.clock import FakeClock
from tally.core.ids import new_id
from tally.core.ledger.transfers import TransferRequest, plan_transfer
from tally.services import Services
from tally.settings import Settings
from tally.store import cards_authorizations as auths
from tally.store import cards_issuing as issuing
from tally.store import ledger_repo
from tally.store import offers_enrollment as enrollment
from tally.store.offers_due import finalize_redemptions
from tally.store.offers_feed import ingest
from tally.store.offers_points import expire_points_holds
from tally.workers.scheduler import Scheduler, load_job_modules

FP_KEY = base64.b64encode(bytes(range(32, 64))).decode()
ENC_KEY = base64.b64encode(bytes(range(32))).decode()
PAN = "4242424242424242"


@pytest.fixture
async def svc(store_url: str, clock: FakeClock) -> AsyncIterator[Services]:
    settings = Settings(
        database_url=store_url,
        auto_migrate=False,
        run_workers=False,
        card_fingerprint_key=FP_KEY,
        card_encryption_key=ENC_KEY,
        card_hold_seconds=600,
    )
    services = Services.build(settings, clock=clock)
    await services.start()
    yield services
    await services.stop()


async def points_ledger_balance(svc: Services, points: int) -> str:
    """A loyalty account's ledger balance in PTS, funded with ``points``."""
    now = svc.clock.now()
    balance = new_id("bln")
    async with svc.db.write() as conn:
        from tally.core.ledger.records import BalanceRecord, LedgerRecord

        ledger = LedgerRecord(new_id("ldg"), "Loyalty", now)
        await ledger_repo.insert_ledger(conn, ledger, now=now)
        await ledger_repo.insert_balance(
            conn, BalanceRecord(balance, ledger.ledger_id, "PTS", now), now=now
        )
    await svc.engine.post(
        plan_transfer(
            TransferRequest(
                currency="PTS",
                reference=new_id("earn"),
                precise_amount=points,
                source="@Program",
                destination=balance,
            ),
            now=now,
        )
    )
    return balance


async def enroll(svc: Services, offer: dict[str, Any], points: int | None = None) -> str:
    made = await enrollment.create_offer(
        svc, {"merchant_id": "58725", "name": "BP", "currency": "EUR", **offer}
    )
    body: dict[str, Any] = {"full_name": "Jane", "email": f"{new_id('j')}@example.com"}
    if points is not None:
        body["points_balance_id"] = await points_ledger_balance(svc, points)
    person, _ = await enrollment.create_person(svc, body)
    card, _ = await enrollment.create_card(
        svc, {"person_id": person["person_id"], "number": PAN, "expiry": "12/30"}
    )
    await enrollment.link(svc, card["card_id"], {"offer_id": made["offer_id"]})
    return str(card["card_id"])


async def send(
    svc: Services, card_id: str, net: str, kind: str, amount: int, related: str | None = None
) -> dict[str, Any]:
    body = {
        "id": net,
        "card_id": card_id,
        "merchant_id": "58725",
        "amount": amount,
        "currency": "EUR",
        "type": kind,
    }
    if related:
        body["auth_id"] = related
    view, _ = await ingest(svc, body)
    return view


async def balance_of(svc: Services, balance_id: str) -> tuple[int, int]:
    async with svc.db.read() as conn:
        b = await ledger_repo.get_balance(conn, balance_id)
    return b.balance, b.inflight_debit_balance


PWP = {
    "reward": {"type": "cashback", "amount": 100},
    "pay_with_points": {"points_currency": "PTS", "points_per_unit": "0.5", "hold_hours": 24},
}


async def test_pay_with_points_auth_holds_clearing_commits_partially(svc: Services) -> None:
    card = await enroll(svc, PWP, points=10_000)
    auth = await send(svc, card, "a1", "auth", 5_001)
    assert auth["outcome"] == "points_held"
    pwp = auth["pay_with_points"]
    assert pwp["points"] == 2_501 and pwp["status"] == "held"  # 5,001 x 0.5 rounded up
    async with svc.db.read() as conn:
        hold = await ledger_repo.get_transaction(conn, pwp["hold_transaction_id"])
    assert await balance_of(svc, hold.source) == (10_000, 2_501)
    cleared = await send(svc, card, "c1", "clearing", 4_000, related="a1")
    assert cleared["outcome"] == "points_captured"
    assert cleared["pay_with_points"]["points"] == 2_000
    assert await balance_of(svc, hold.source) == (8_000, 0)
    async with svc.db.read() as conn:
        kinds = [
            r.type
            for r in await conn.execute(
                sa.text("SELECT type FROM events WHERE type LIKE 'offer.%' ORDER BY id")
            )
        ]
    assert kinds.count("offer.points.held") == 1 and kinds.count("offer.redeemed") == 1
    refund = await send(svc, card, "r1", "refund", 4_000, related="c1")
    assert refund["outcome"] == "redemption_reversed"
    assert await balance_of(svc, hold.source) == (10_000, 0)


async def test_pay_with_points_reversal_and_expiry_release(svc: Services, clock: FakeClock) -> None:
    card = await enroll(svc, PWP, points=1_000)
    first = await send(svc, card, "a1", "auth", 1_000)
    source_hold = first["pay_with_points"]["hold_transaction_id"]
    async with svc.db.read() as conn:
        points_balance = (await ledger_repo.get_transaction(conn, source_hold)).source
    reversal = await send(svc, card, "v1", "reversal", 1_000, related="a1")
    assert reversal["outcome"] == "points_released"
    assert await balance_of(svc, points_balance) == (1_000, 0)
    second = await send(svc, card, "a2", "auth", 2_000)
    assert second["outcome"] == "points_held"
    poor = await send(svc, card, "a3", "auth", 2_000)  # 1,000 more points than are left
    assert poor["outcome"] == "recorded"
    assert "fewer than 1000 points" in poor["explanation"]["pay_with_points"]
    clock.advance(timedelta(hours=23))
    assert await expire_points_holds(svc, clock.now()) == 0
    clock.advance(timedelta(hours=1))
    load_job_modules()
    assert await Scheduler(svc).run_once() >= 1
    assert await balance_of(svc, points_balance) == (1_000, 0)
    late = await send(svc, card, "c2", "clearing", 2_000, related="a2")
    assert late["outcome"] == "rewarded"  # the hold expired: an ordinary reward applies


async def test_return_period_keeps_rewards_pending_until_final(
    svc: Services, clock: FakeClock
) -> None:
    card = await enroll(
        svc, {"reward": {"type": "cashback", "percent": "10"}, "return_period_days": 14}
    )
    await send(svc, card, "c1", "clearing", 10_000)
    await send(svc, card, "c2", "clearing", 5_000)
    await send(svc, card, "c3", "clearing", 2_000)
    async with svc.db.read() as conn:
        rows = list(
            await conn.execute(
                sa.text(
                    "SELECT redemption_id, transaction_id, status FROM offer_redemptions "
                    "ORDER BY id"
                )
            )
        )
        hold = await ledger_repo.get_transaction(conn, rows[0].transaction_id)
    assert [r.status for r in rows] == ["pending"] * 3 and hold.status == "INFLIGHT"
    person = hold.destination
    assert await balance_of(svc, person) == (0, 0)
    await send(svc, card, "r1", "refund", 2_500, related="c1")  # a quarter: 250 of 1,000
    await send(svc, card, "r2", "refund", 5_000, related="c2")  # all of it, at once
    clock.advance(timedelta(days=14))
    assert await finalize_redemptions(svc, clock.now()) == 2
    async with svc.db.read() as conn:
        statuses = [
            r.status
            for r in await conn.execute(sa.text("SELECT status FROM offer_redemptions ORDER BY id"))
        ]
    assert statuses == ["partially_reversed", "reversed", "final"]
    assert await balance_of(svc, person) == (750 + 200, 0)
    load_job_modules()
    await Scheduler(svc).run_once()  # the scheduled jobs find nothing left to do
    assert await balance_of(svc, person) == (950, 0)


async def test_concurrent_clearings_never_exceed_the_total_limit(svc: Services) -> None:
    made = await enrollment.create_offer(
        svc,
        {
            "merchant_id": "58725",
            "name": "First five",
            "currency": "EUR",
            "max_total": 5,
            "reward": {"type": "cashback", "amount": 100},
        },
    )
    cards = []
    numbers = [
        "4000056655665556",
        "5200828282828210",
        "2223003122003222",
        "6011111111111117",
        "3566002020360505",
        "6200000000000005",
        "4111111111111111",
        "5105105105105100",
    ]
    for number in numbers:
        person, _ = await enrollment.create_person(
            svc, {"full_name": "P", "email": f"{number}@example.com"}
        )
        card, _ = await enrollment.create_card(
            svc, {"person_id": person["person_id"], "number": number, "expiry": "12/30"}
        )
        await enrollment.link(svc, card["card_id"], {"offer_id": made["offer_id"]})
        cards.append(card["card_id"])
    results = await asyncio.gather(
        *[send(svc, cid, f"n{i}", "clearing", 1_000) for i, cid in enumerate(cards)]
    )
    assert sorted(r["outcome"] for r in results).count("rewarded") == 5
    funding = await ledger_balance_by_indicator(svc, "@OfferFunding")
    assert funding == -500


async def ledger_balance_by_indicator(svc: Services, indicator: str) -> int:
    async with svc.db.read() as conn:
        return (await ledger_repo.get_balance_by_indicator(conn, indicator, "EUR")).balance


async def test_scheduler_expires_card_authorizations(svc: Services, clock: FakeClock) -> None:
    holder = new_id("idt")
    now = clock.now()
    async with svc.db.write() as conn:
        await ledger_repo.insert_identity(
            conn, {"identity_id": holder, "created_at": now, "meta_data": {}}, now=now
        )
    card = await issuing.create_virtual_card(svc, {"holder": holder, "currency": "EUR"})
    await svc.engine.post(
        plan_transfer(
            TransferRequest(
                currency="EUR",
                reference="fund",
                precise_amount=1_000,
                source="@World",
                destination=card["balance_id"],
            ),
            now=now,
        )
    )
    auth = await auths.authorize(
        svc, card["card_id"], {"amount": 400, "currency": "EUR", "merchant_id": "1"}
    )
    load_job_modules()
    assert await Scheduler(svc).run_once() == 0
    clock.advance(timedelta(seconds=600))
    assert await Scheduler(svc).run_once() == 1
    found = await auths.get_authorization(svc, card["card_id"], auth["auth_id"])
    assert found["status"] == "EXPIRED"
