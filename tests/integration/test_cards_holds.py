"""Virtual card holds under concurrency and over time, and the card key rules, on both stores."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tally.core.cards.errors import CardKeyNotConfigured
from tally.core.clock import FakeClock
from tally.core.ids import new_id
from tally.core.ledger.transfers import TransferRequest, plan_transfer
from tally.services import Services
from tally.settings import Settings
from tally.store import cards_authorizations as auths
from tally.store import cards_issuing as issuing
from tally.store import ledger_repo

KEY = base64.b64encode(bytes(range(32))).decode()
HOLD_SECONDS = 3600


@pytest.fixture
async def svc(store_url: str, clock: FakeClock) -> AsyncIterator[Services]:
    settings = Settings(
        database_url=store_url,
        auto_migrate=False,
        run_workers=False,
        card_encryption_key=KEY,
        card_hold_seconds=HOLD_SECONDS,
    )
    services = Services.build(settings, clock=clock)
    await services.start()
    yield services
    await services.stop()


async def card_with(svc: Services, amount: int, **extra: Any) -> dict[str, Any]:
    now = svc.clock.now()
    holder = new_id("idt")
    async with svc.db.write() as conn:
        await ledger_repo.insert_identity(
            conn, {"identity_id": holder, "created_at": now, "meta_data": {}}, now=now
        )
    card = await issuing.create_virtual_card(svc, {"holder": holder, "currency": "EUR", **extra})
    plan = plan_transfer(
        TransferRequest(
            currency="EUR",
            reference=new_id("fund"),
            precise_amount=amount,
            source="@World",
            destination=card["balance_id"],
        ),
        now=now,
    )
    await svc.engine.post(plan)
    return card


def auth_body(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "EUR", "merchant_id": "58725"}


async def test_concurrent_authorizations_never_overspend(svc: Services) -> None:
    card = await card_with(svc, 10_000)
    results = await asyncio.gather(
        *[auths.authorize(svc, card["card_id"], auth_body(700)) for _ in range(40)]
    )
    approved = [r for r in results if r["status"] == "PENDING"]
    assert len(approved) == 14  # 14 x 700 = 9,800 <= 10,000 < 15 x 700
    assert {r["decline_reason"] for r in results if r["status"] == "DECLINED"} == {
        "insufficient_funds"
    }
    shown = await issuing.get_virtual_card(svc, card["card_id"])
    assert shown["balance"] == {"balance": 10_000, "held": 9_800, "available": 200}


async def test_concurrent_authorizations_respect_the_daily_limit(svc: Services) -> None:
    card = await card_with(svc, 100_000, limits={"per_day": 5_000})
    results = await asyncio.gather(
        *[auths.authorize(svc, card["card_id"], auth_body(600)) for _ in range(30)]
    )
    approved = [r for r in results if r["status"] == "PENDING"]
    assert len(approved) == 8  # 8 x 600 = 4,800 <= 5,000
    assert {r["decline_reason"] for r in results if r["status"] == "DECLINED"} == {"limit_exceeded"}
    shown = await issuing.get_virtual_card(svc, card["card_id"])
    assert shown["balance"]["held"] == 4_800


async def test_daily_limit_starts_again_the_next_utc_day(svc: Services, clock: FakeClock) -> None:
    card = await card_with(svc, 100_000, limits={"per_day": 1_000})
    first = await auths.authorize(svc, card["card_id"], auth_body(1_000))
    assert first["status"] == "PENDING"
    assert (await auths.authorize(svc, card["card_id"], auth_body(1)))["status"] == "DECLINED"
    reversed_ = await auths.reverse(svc, card["card_id"], first["auth_id"])
    assert reversed_["status"] == "REVERSED"
    assert (await auths.authorize(svc, card["card_id"], auth_body(1_000)))["status"] == (
        "PENDING"
    )  # a reversed authorization no longer counts
    clock.advance(timedelta(days=1))
    assert (await auths.authorize(svc, card["card_id"], auth_body(1_000)))["status"] == ("PENDING")


async def test_holds_expire_after_the_configured_time(svc: Services, clock: FakeClock) -> None:
    card = await card_with(svc, 10_000)
    auth = await auths.authorize(svc, card["card_id"], auth_body(3_000))
    kept = await auths.authorize(svc, card["card_id"], auth_body(1_000))
    assert await auths.expire_authorizations(svc, clock.now()) == 0
    clock.advance(timedelta(seconds=HOLD_SECONDS - 1))
    captured = await auths.capture(svc, card["card_id"], kept["auth_id"], {"amount": 500})
    assert captured["status"] == "CAPTURED"
    clock.advance(timedelta(seconds=1))
    assert await auths.expire_authorizations(svc, clock.now()) == 1
    expired = await auths.get_authorization(svc, card["card_id"], auth["auth_id"])
    assert expired["status"] == "EXPIRED" and expired["released_amount"] == 3_000
    shown = await issuing.get_virtual_card(svc, card["card_id"])
    assert shown["balance"] == {"balance": 9_500, "held": 0, "available": 9_500}
    assert await auths.expire_authorizations(svc, clock.now()) == 0
    async with svc.db.read() as conn:
        types = [
            r.type
            for r in await conn.execute(
                sa.text("SELECT type FROM events WHERE type LIKE 'card.%' ORDER BY id")
            )
        ]
    assert types.count("card.authorization.expired") == 1


async def test_capture_and_reverse_race_settles_once(svc: Services) -> None:
    card = await card_with(svc, 10_000)
    auth = await auths.authorize(svc, card["card_id"], auth_body(2_000))
    outcomes = await asyncio.gather(
        auths.capture(svc, card["card_id"], auth["auth_id"], {}),
        auths.reverse(svc, card["card_id"], auth["auth_id"]),
        return_exceptions=True,
    )
    done = [o for o in outcomes if isinstance(o, dict)]
    failed = [o for o in outcomes if isinstance(o, Exception)]
    assert len(done) == 1 and len(failed) == 1
    assert getattr(failed[0], "code", "") == "AUTH_NOT_PENDING"
    shown = await issuing.get_virtual_card(svc, card["card_id"])
    assert shown["balance"]["held"] == 0
    assert shown["balance"]["balance"] in (8_000, 10_000)


async def test_card_keys_are_never_derived(store_url: str) -> None:
    prod = Services.build(
        Settings(database_url=store_url, auto_migrate=False, environment="production")
    )
    dev = Services.build(Settings(database_url=store_url, auto_migrate=False))
    holder = new_id("idt")
    now = dev.clock.now()
    async with dev.db.write() as conn:
        await ledger_repo.insert_identity(
            conn, {"identity_id": holder, "created_at": now, "meta_data": {}}, now=now
        )
    body = {"holder": holder, "currency": "EUR"}
    with pytest.raises(CardKeyNotConfigured, match="required outside development"):
        await issuing.create_virtual_card(prod, body)
    details = {"number": "4111111111111111", "exp_month": 1, "exp_year": 2035}
    with pytest.raises(CardKeyNotConfigured, match="never derives"):
        await issuing.create_virtual_card(dev, {**body, "details": details})
    made = await issuing.create_virtual_card(dev, body)
    assert made["details"] is None
    await prod.db.dispose()
    await dev.db.dispose()
