"""Manual adjustments (``type: adjust``): a signed number of points with a required reason."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.errors import InsufficientFunds
from tally.core.ids import new_id
from tally.core.ledger.records import TransactionRecord
from tally.core.loyalty import errors as le
from tally.core.loyalty.records import PointsTx, PtxType
from tally.core.loyalty.views import ptx_view
from tally.services import Services

from . import loyalty_repo as repo
from .engine import Post
from .loyalty_posting import add_lot, points_plan, retrying, run_steps, take_from_lots
from .outbox import emit


async def adjust(services: Services, account_id: str, body: dict[str, Any]) -> dict[str, Any]:
    points = body.get("points")
    if isinstance(points, bool) or not isinstance(points, int) or points == 0:
        raise le.LoyaltyInvalid(
            "points must be a non-zero whole number (negative to remove)",
            details={"field": "points"},
        )
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise le.LoyaltyInvalid("reason: an adjustment needs a reason", details={"field": "reason"})
    now = services.clock.now()
    async with services.db.read() as conn:
        account = await repo.get_account(conn, account_id)
        program = await repo.get_program(conn, account.program_id)
    ptx_id = new_id("ptx")
    credit = points > 0
    plan = points_plan(
        program,
        reference=f"adjust:{ptx_id}",
        source=program.issuing_balance_id if credit else account.balance_id,
        destination=account.balance_id if credit else program.issuing_balance_id,
        points=abs(points),
        now=now,
        description=f"adjustment: {reason.strip()}",
        meta_data={"loyalty_account": account_id, "points_transaction": ptx_id},
    )
    ptx = PointsTx(
        ptx_id,
        account_id,
        program.program_id,
        points,
        PtxType.ADJUST,
        now,
        plan.transaction_id,
        reason=reason.strip(),
    )

    async def write(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
        await repo.insert_ptx(conn, [ptx])
        if credit:
            await add_lot(
                conn, program=program, account_id=account_id, ptx_id=ptx_id, points=points, now=now
            )
        else:
            await take_from_lots(conn, account_id, -points, into_deficit=False)
        await emit(conn, "loyalty.points.adjusted", ptx_view(ptx), now=now, subject_id=ptx_id)

    try:
        await retrying(lambda: run_steps(services, [Post(plan)], write))
    except InsufficientFunds as exc:
        available = (exc.details or {}).get("available")
        raise le.InsufficientPoints(
            f"account {account_id} has {available} points available; cannot remove {-points}",
            details={"available": available, "requested": -points},
        ) from None
    return ptx_view(ptx)
