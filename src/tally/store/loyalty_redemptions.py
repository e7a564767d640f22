"""Redemptions: points held at once (an inflight transfer from the member to the program's
redemption balance), committed by a completed payment, released by cancel, a failed payment or
the hold timing out."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.errors import AlreadyCommitted, AlreadyVoided, InsufficientFunds, TallyError
from tally.core.ids import new_id
from tally.core.ledger.records import TransactionRecord
from tally.core.loyalty import errors as le
from tally.core.loyalty.records import PointsTx, PtxType, Redemption, RedemptionState
from tally.core.loyalty.views import ptx_view, redemption_view
from tally.services import Services

from . import loyalty_repo as repo
from . import tables_loyalty as lt
from .engine import Post, Void
from .jobs_repo import schedule
from .loyalty_posting import (
    give_back_to_lots,
    guarded_update,
    points_plan,
    retrying,
    run_steps,
    take_from_lots,
)
from .outbox import emit

RELEASE_JOB = "loyalty.redemption_release"


async def create_redemption(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    account_id, reward_id = body.get("account"), body.get("reward")
    if not isinstance(account_id, str) or not isinstance(reward_id, str):
        raise le.LoyaltyInvalid("account and reward are required (loy_ and rwd_ ids)")
    now = services.clock.now()
    async with services.db.read() as conn:
        account = await repo.get_account(conn, account_id, body=True)
        reward = await repo.get_reward(conn, reward_id, body=True)
        if reward.program_id != account.program_id:
            raise le.ProgramMismatch(
                f"reward {reward_id} belongs to program {reward.program_id}; account "
                f"{account_id} is in program {account.program_id}"
            )
        if not reward.active:
            raise le.LoyaltyInvalid(f"reward {reward_id} is not active")
        program = await repo.get_program(conn, account.program_id)
    rdm = Redemption(
        redemption_id=new_id("rdm"),
        program_id=program.program_id,
        account_id=account_id,
        reward_id=reward_id,
        points=reward.points_cost,
        discount_amount=reward.discount_amount,
        currency=reward.currency,
        state=RedemptionState.HELD,
        hold_transaction_id="",
        expires_at=now + timedelta(seconds=program.config.redemption_hold_seconds),
        created_at=now,
        updated_at=now,
    )
    plan = points_plan(
        program,
        reference=f"redeem:{rdm.redemption_id}",
        source=account.balance_id,
        destination=program.redemption_balance_id,
        points=rdm.points,
        now=now,
        inflight=True,
        description=f"redemption {rdm.redemption_id} of reward {reward_id}",
        meta_data={"redemption": rdm.redemption_id, "loyalty_account": account_id},
    )
    rdm.hold_transaction_id = plan.transaction_id

    async def write(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
        await conn.execute(lt.loyalty_redemptions.insert().values(**repo.redemption_row(rdm)))
        taken = await take_from_lots(conn, account_id, rdm.points, into_deficit=False)
        if taken:
            await conn.execute(
                lt.points_lot_holds.insert(),
                [
                    {"redemption_id": rdm.redemption_id, "lot_id": lot, "points": points}
                    for lot, points in taken
                ],
            )
        ptx = PointsTx(
            ptx_id=new_id("ptx"),
            account_id=account_id,
            program_id=program.program_id,
            points=-rdm.points,
            type=PtxType.REDEEM,
            created_at=now,
            ledger_transaction=rdm.hold_transaction_id,
            redemption_id=rdm.redemption_id,
            amount=rdm.discount_amount,
            currency=rdm.currency,
        )
        await repo.insert_ptx(conn, [ptx])
        await emit(
            conn,
            "loyalty.points.redeemed",
            {**ptx_view(ptx), "redemption": redemption_view(rdm)},
            now=now,
            subject_id=rdm.redemption_id,
        )
        await schedule(conn, RELEASE_JOB, rdm.redemption_id, rdm.expires_at, now=now)

    try:
        await retrying(lambda: run_steps(services, [Post(plan)], write))
    except InsufficientFunds as exc:
        available = (exc.details or {}).get("available")
        raise le.InsufficientPoints(
            f"account {account_id} has {available} points available; reward {reward_id} costs "
            f"{rdm.points}",
            details={"available": available, "requested": rdm.points},
        ) from None
    return redemption_view(rdm)


async def get_redemption(services: Services, redemption_id: str) -> dict[str, Any]:
    async with services.db.read() as conn:
        return redemption_view(await repo.get_redemption(conn, redemption_id))


async def write_release(
    conn: AsyncConnection, rdm: Redemption, void: TransactionRecord, reason: str, now: datetime
) -> None:
    """Mark a held redemption released, give its points back to their lots, record it."""
    c = lt.loyalty_redemptions.c
    await guarded_update(
        conn,
        lt.loyalty_redemptions.update()
        .where(c.redemption_id == rdm.redemption_id)
        .where(c.state == RedemptionState.HELD)
        .values(
            state=RedemptionState.RELEASED,
            release_reason=reason,
            settle_transaction_id=void.transaction_id,
            updated_at=now,
        ),
        f"redemption {rdm.redemption_id}",
    )
    held = await conn.execute(
        sa.select(lt.points_lot_holds).where(
            lt.points_lot_holds.c.redemption_id == rdm.redemption_id
        )
    )
    await give_back_to_lots(conn, rdm.account_id, [(r.lot_id, int(r.points)) for r in held])
    ptx = PointsTx(
        ptx_id=new_id("ptx"),
        account_id=rdm.account_id,
        program_id=rdm.program_id,
        points=rdm.points,
        type=PtxType.RELEASE,
        created_at=now,
        ledger_transaction=void.transaction_id,
        redemption_id=rdm.redemption_id,
        payment_id=rdm.payment_id,
        reason=reason,
    )
    await repo.insert_ptx(conn, [ptx])
    rdm.state, rdm.release_reason = RedemptionState.RELEASED, reason
    rdm.settle_transaction_id, rdm.updated_at = void.transaction_id, now
    await emit(
        conn,
        "loyalty.redemption.released",
        {**redemption_view(rdm), "points_transaction": ptx_view(ptx)},
        now=now,
        subject_id=rdm.redemption_id,
    )


async def write_commit(
    conn: AsyncConnection,
    rdm: Redemption,
    commit: TransactionRecord,
    payment_id: str,
    now: datetime,
) -> None:
    c = lt.loyalty_redemptions.c
    await guarded_update(
        conn,
        lt.loyalty_redemptions.update()
        .where(c.redemption_id == rdm.redemption_id)
        .where(c.state == RedemptionState.HELD)
        .values(
            state=RedemptionState.COMMITTED,
            payment_id=payment_id,
            settle_transaction_id=commit.transaction_id,
            updated_at=now,
        ),
        f"redemption {rdm.redemption_id}",
    )
    rdm.state, rdm.payment_id = RedemptionState.COMMITTED, payment_id
    rdm.settle_transaction_id, rdm.updated_at = commit.transaction_id, now
    await emit(
        conn,
        "loyalty.redemption.committed",
        redemption_view(rdm),
        now=now,
        subject_id=rdm.redemption_id,
    )


def check_held(rdm: Redemption, now: datetime) -> None:
    """Refuse a redemption that can no longer be used (released, committed, or timed out)."""
    if rdm.state == RedemptionState.RELEASED and rdm.release_reason == "expired":
        raise le.RedemptionExpired(
            f"redemption {rdm.redemption_id} timed out and its points were released; "
            "create a new redemption"
        )
    if rdm.state != RedemptionState.HELD:
        raise le.RedemptionNotHeld(f"redemption {rdm.redemption_id} is {rdm.state}")
    if now >= rdm.expires_at:
        raise le.RedemptionExpired(
            f"redemption {rdm.redemption_id} expired at {rdm.expires_at.isoformat()}; "
            "create a new redemption"
        )


async def release(
    services: Services, redemption_id: str, reason: str, *, only_if_due: bool = False
) -> Redemption:
    """Void a held redemption's points (cancel, or timeout when ``only_if_due``)."""

    async def attempt() -> Redemption:
        now = services.clock.now()
        async with services.db.read() as conn:
            rdm = await repo.get_redemption(conn, redemption_id)
        if rdm.state != RedemptionState.HELD or (only_if_due and now < rdm.expires_at):
            return rdm

        async def write(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
            await write_release(conn, rdm, records[0], reason, now)

        await run_steps(services, [Void(rdm.hold_transaction_id)], write)
        return rdm

    try:
        return await retrying(attempt)
    except (AlreadyVoided, AlreadyCommitted):
        async with services.db.read() as conn:
            return await repo.get_redemption(conn, redemption_id)


async def cancel_redemption(services: Services, redemption_id: str) -> dict[str, Any]:
    async with services.db.read() as conn:
        rdm = await repo.get_redemption(conn, redemption_id)
    if rdm.state == RedemptionState.COMMITTED:
        raise le.RedemptionNotHeld(
            f"redemption {redemption_id} was used by payment {rdm.payment_id}; refund the "
            "payment instead"
        )
    return redemption_view(await release(services, redemption_id, "cancelled"))


async def release_expired_redemptions(
    services: Services, now: datetime, *, limit: int = 500
) -> int:
    """Release every held redemption whose hold time has passed; returns how many."""
    c = lt.loyalty_redemptions.c
    async with services.db.read() as conn:
        rows = await conn.execute(
            sa.select(c.redemption_id)
            .where(c.state == RedemptionState.HELD)
            .where(c.expires_at <= now)
            .order_by(c.expires_at)
            .limit(limit)
        )
        due = [r.redemption_id for r in rows]
    released = 0
    for redemption_id in due:
        try:
            rdm = await release(services, redemption_id, "expired", only_if_due=True)
        except TallyError:
            continue
        released += rdm.state == RedemptionState.RELEASED
    return released
