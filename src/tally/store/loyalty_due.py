"""Due work: pending points become available, lots expire, held redemptions time out.

Each piece works on one subject and is idempotent (the scheduler may run a job twice); the
``*_due`` scans run everything due at ``now`` (the CLI and tests use them with a fake clock).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.errors import TallyError
from tally.core.ids import new_id
from tally.core.ledger.records import TransactionRecord
from tally.core.loyalty.lots import pay_deficit
from tally.core.loyalty.records import LotState, PointsTx, PtxType
from tally.core.loyalty.views import ptx_view
from tally.services import Services

from . import loyalty_repo as repo
from . import tables_loyalty as lt
from .engine import Post, Step
from .loyalty_posting import guarded_update, points_plan, read_deficit, retrying, run_steps
from .loyalty_redemptions import release_expired_redemptions
from .outbox import emit

LOT = lt.points_lots.c


async def _lot(conn: AsyncConnection, lot_id: str) -> Any:
    return (await conn.execute(sa.select(lt.points_lots).where(LOT.lot_id == lot_id))).first()


async def vest_lot(services: Services, lot_id: str) -> bool:
    """Move a pending lot's points to the member once its pending period is over."""

    async def attempt() -> bool:
        now = services.clock.now()
        async with services.db.read() as conn:
            lot = await _lot(conn, lot_id)
            if lot is None or lot.state != LotState.PENDING or lot.available_at > now:
                return False
            account = await repo.get_account(conn, lot.account_id)
            program = await repo.get_program(conn, lot.program_id)
        remaining = int(lot.remaining)
        steps: list[Step] = []
        if remaining:
            steps.append(
                Post(
                    points_plan(
                        program,
                        reference=f"vest:{lot_id}",
                        source=program.pending_balance_id,
                        destination=account.balance_id,
                        points=remaining,
                        now=now,
                        description=f"pending points of lot {lot_id} became available",
                        meta_data={"lot": lot_id, "loyalty_account": account.account_id},
                    )
                )
            )

        async def write(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
            deficit = await read_deficit(conn, account.account_id) if remaining else 0
            left, new_deficit = pay_deficit(deficit, remaining)
            if new_deficit != deficit:
                await guarded_update(
                    conn,
                    lt.loyalty_accounts.update()
                    .where(lt.loyalty_accounts.c.account_id == account.account_id)
                    .where(lt.loyalty_accounts.c.deficit == deficit)
                    .values(deficit=new_deficit),
                    "the account's deficit",
                )
            await guarded_update(
                conn,
                lt.points_lots.update()
                .where(LOT.lot_id == lot_id)
                .where(LOT.state == LotState.PENDING)
                .where(LOT.remaining == remaining)
                .values(
                    state=LotState.ACTIVE,
                    remaining=left,
                    vest_transaction=records[0].transaction_id if records else None,
                ),
                f"lot {lot_id}",
            )
            await emit(
                conn,
                "loyalty.points.available",
                {
                    "account": account.account_id,
                    "program": program.program_id,
                    "lot": lot_id,
                    "points": remaining,
                    "ledger_transaction": records[0].transaction_id if records else None,
                },
                now=now,
                subject_id=lot_id,
            )

        await run_steps(services, steps, write)
        return True

    return await retrying(attempt)


async def expire_lot(services: Services, lot_id: str) -> int:
    """Expire what is left of an active lot past its expiry date; returns the points expired."""

    async def attempt() -> int:
        now = services.clock.now()
        async with services.db.read() as conn:
            lot = await _lot(conn, lot_id)
            if (
                lot is None
                or lot.state != LotState.ACTIVE
                or lot.expires_at is None
                or lot.expires_at > now
            ):
                return 0
            account = await repo.get_account(conn, lot.account_id)
            program = await repo.get_program(conn, lot.program_id)
        remaining = int(lot.remaining)
        ptx_id = new_id("ptx")
        steps: list[Step] = []
        if remaining:
            steps.append(
                Post(
                    points_plan(
                        program,
                        reference=f"expire:{lot_id}:{ptx_id}",
                        source=account.balance_id,
                        destination=program.issuing_balance_id,
                        points=remaining,
                        now=now,
                        description=f"points of lot {lot_id} expired",
                        meta_data={"lot": lot_id, "loyalty_account": account.account_id},
                    )
                )
            )

        async def write(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
            await guarded_update(
                conn,
                lt.points_lots.update()
                .where(LOT.lot_id == lot_id)
                .where(LOT.state == LotState.ACTIVE)
                .where(LOT.remaining == remaining)
                .values(state=LotState.EXPIRED, remaining=0),
                f"lot {lot_id}",
            )
            if not records:
                return
            ptx = PointsTx(
                ptx_id,
                account.account_id,
                program.program_id,
                -remaining,
                PtxType.EXPIRE,
                now,
                records[0].transaction_id,
                reason=f"lot {lot_id} expired",
                details={"lot": lot_id},
            )
            await repo.insert_ptx(conn, [ptx])
            await emit(conn, "loyalty.points.expired", ptx_view(ptx), now=now, subject_id=ptx_id)

        await run_steps(services, steps, write)
        return remaining

    return await retrying(attempt)


async def _due_lots(services: Services, column: Any, state: str, now: datetime) -> list[str]:
    async with services.db.read() as conn:
        rows = await conn.execute(
            sa.select(LOT.lot_id)
            .where(LOT.state == state)
            .where(column <= now)
            .order_by(column)
            .limit(1000)
        )
        return [r.lot_id for r in rows]


async def vest_due(services: Services, now: datetime) -> int:
    count = 0
    for lot_id in await _due_lots(services, LOT.available_at, LotState.PENDING, now):
        try:
            count += await vest_lot(services, lot_id)
        except TallyError:
            continue
    return count


async def expire_due(services: Services, now: datetime) -> int:
    points = 0
    for lot_id in await _due_lots(services, LOT.expires_at, LotState.ACTIVE, now):
        try:
            points += await expire_lot(services, lot_id)
        except TallyError:
            continue
    return points


async def run_due(services: Services, now: datetime) -> dict[str, int]:
    """Everything due at ``now``, in Voucherify's order: activate, release, then expire."""
    return {
        "vested_lots": await vest_due(services, now),
        "released_redemptions": await release_expired_redemptions(services, now),
        "expired_points": await expire_due(services, now),
    }
