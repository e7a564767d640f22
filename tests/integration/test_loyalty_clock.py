"""Auto-release, pending points and expiry, driven by a fake clock (no sleeps)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tally.api.app import create_app
from tally.core.clock import FakeClock
from tally.services import Services
from tally.settings import Settings
from tally.store import loyalty_due
from tally.store.database import Database
from tally.workers.scheduler import Scheduler, load_job_modules

from .loyalty_helpers import account, events, grant, ledger_sums_to_zero, member, ok, pay, program

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def timed(app_settings: Settings, clock: FakeClock) -> AsyncIterator[tuple[Any, Services]]:
    """The app and, on the test's own event loop, worker services sharing its fake clock."""
    app = create_app(Services.build(app_settings, clock=clock))
    worker = Services.build(app_settings, clock=clock)
    await worker.start()
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:5001") as c:
        yield c, worker
    await worker.stop()


async def _reward(client: Any, program_id: str) -> str:
    reward = await ok(
        await client.post(
            "/loyalty/rewards",
            json={
                "program": program_id,
                "name": "EUR 5 off",
                "points_cost": 500,
                "discount": 500,
                "currency": "eur",
            },
        ),
        201,
    )
    return str(reward["id"])


async def test_unused_redemption_is_released_after_the_30_minute_hold(
    timed: tuple[Any, Services], clock: FakeClock, db: Database
) -> None:
    client, services = timed
    prog = await program(client)
    customer, loy = await member(client, prog["id"])
    await grant(client, loy, 500)
    rdm = await ok(
        await client.post(
            "/loyalty/redemptions",
            json={"account": loy, "reward": await _reward(client, prog["id"])},
        ),
        201,
    )
    clock.advance(timedelta(minutes=29))
    assert (await loyalty_due.run_due(services, clock.now()))["released_redemptions"] == 0
    assert (await account(client, loy))["available"] == 0
    clock.advance(timedelta(minutes=1))
    assert (await loyalty_due.run_due(services, clock.now()))["released_redemptions"] == 1
    assert (await account(client, loy))["available"] == 500
    late = await client.post(
        "/payments",
        json={"amount": 4200, "currency": "eur", "customer": customer, "redemptions": [rdm["id"]]},
    )
    assert late.status_code == 409
    assert late.json()["error_detail"]["code"] == "LOY_REDEMPTION_EXPIRED"
    assert [e["release_reason"] for e in await events(db, "loyalty.redemption.released")] == [
        "expired"
    ]


async def test_redemption_attached_to_a_payment_that_never_completes_times_out(
    timed: tuple[Any, Services], clock: FakeClock
) -> None:
    client, services = timed
    prog = await program(client, redemption_hold="10m")
    customer, loy = await member(client, prog["id"])
    await grant(client, loy, 500)
    rdm = await ok(
        await client.post(
            "/loyalty/redemptions",
            json={"account": loy, "reward": await _reward(client, prog["id"])},
        ),
        201,
    )
    payment = await ok(
        await client.post(
            "/payments",
            json={
                "amount": 4200,
                "currency": "eur",
                "customer": customer,
                "redemptions": [rdm["id"]],
            },
        ),
        201,
    )
    clock.advance(timedelta(minutes=10))
    load_job_modules()
    assert await Scheduler(services).run_once() == 1
    assert (await account(client, loy))["available"] == 500
    done = await client.post(f"/payments/{payment['id']}/complete")
    assert done.status_code == 409, done.text
    assert done.json()["error_detail"]["code"] == "LOY_REDEMPTION_EXPIRED"
    assert (await ok(await client.get(f"/payments/{payment['id']}")))["status"] == "pending"


async def test_pending_points_become_spendable_after_the_pending_period(
    timed: tuple[Any, Services], clock: FakeClock, db: Database
) -> None:
    client, services = timed
    prog = await program(client, pending_period="14d")
    customer, loy = await member(client, prog["id"])
    await pay(client, 4200, customer=customer)
    pending = await account(client, loy)
    assert (pending["balance"], pending["pending"], pending["available"]) == (0, 42, 0)
    clock.advance(timedelta(days=13))
    load_job_modules()
    assert await Scheduler(services).run_once() == 0
    clock.advance(timedelta(days=1))
    assert await Scheduler(services).run_once() == 1
    vested = await account(client, loy)
    assert (vested["balance"], vested["pending"], vested["available"]) == (42, 0, 42)
    assert vested["lifetime_earned"] == 42
    await ledger_sums_to_zero(db)


async def test_refund_inside_the_pending_period_takes_the_pending_points(
    timed: tuple[Any, Services], clock: FakeClock, db: Database
) -> None:
    client, services = timed
    prog = await program(client, pending_period="14d", clawback={"allow_negative": False})
    customer, loy = await member(client, prog["id"])
    payment = await pay(client, 4200, customer=customer)
    re = await ok(
        await client.post("/refunds", json={"payment": payment["id"], "amount": 2100}), 201
    )
    assert re["points_clawed_back"] == 21 and re["points_capped"] == 0
    assert (await account(client, loy))["pending"] == 21
    clock.advance(timedelta(days=14))
    await loyalty_due.run_due(services, clock.now())
    assert (await account(client, loy))["available"] == 21
    await ledger_sums_to_zero(db)


async def test_points_expire_soonest_first_and_spending_uses_them_first(
    timed: tuple[Any, Services], clock: FakeClock, db: Database
) -> None:
    client, services = timed
    prog = await program(client, expiry={"type": "rolling", "after": "30d"})
    customer, loy = await member(client, prog["id"])
    await pay(client, 10000, customer=customer)  # 100 points, expire day 30
    clock.advance(timedelta(days=10))
    await pay(client, 5000, customer=customer)  # 50 points, expire day 40
    await ok(
        await client.post(
            f"/loyalty/accounts/{loy}/adjustments",
            json={"points": -30, "reason": "in-store purchase"},
        ),
        201,
    )
    clock.advance(timedelta(days=20))  # day 30: the first lot (70 left) expires
    assert (await loyalty_due.run_due(services, clock.now()))["expired_points"] == 70
    assert (await account(client, loy))["balance"] == 50
    clock.advance(timedelta(days=10))
    load_job_modules()
    assert await Scheduler(services).run_once() >= 1
    gone = await account(client, loy)
    assert gone["balance"] == 0 and gone["lifetime"]["expired"] == 120
    expired = await events(db, "loyalty.points.expired")
    assert [e["points"] for e in expired] == [-70, -50]
    assert all(e["type"] == "expire" for e in expired)
    await ledger_sums_to_zero(db)


async def test_released_points_return_to_their_lot_and_still_expire(
    timed: tuple[Any, Services], clock: FakeClock
) -> None:
    client, services = timed
    prog = await program(client, expiry={"type": "rolling", "after": "1h"}, redemption_hold="2h")
    _, loy = await member(client, prog["id"])
    await grant(client, loy, 500)
    rdm = await ok(
        await client.post(
            "/loyalty/redemptions",
            json={"account": loy, "reward": await _reward(client, prog["id"])},
        ),
        201,
    )
    clock.advance(timedelta(hours=1))
    assert (await loyalty_due.run_due(services, clock.now()))["expired_points"] == 0
    await ok(await client.post(f"/loyalty/redemptions/{rdm['id']}/cancel"))
    assert (await account(client, loy))["available"] == 500
    assert (await loyalty_due.run_due(services, clock.now()))["expired_points"] == 500
    assert (await account(client, loy))["balance"] == 0
