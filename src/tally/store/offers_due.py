"""Due work of offers: rewards becoming final after their return period.

When a reward's return period ends, what is left of it (the reward less what partial refunds took
back) is committed and the rest released, in one transaction; ``offer.redemption.finalized`` is
emitted. Run by the scheduler (job ``offers.redemption_final``) or by
:func:`finalize_redemptions` for everything due.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.errors import AlreadyCommitted, AlreadyVoided
from tally.core.ledger.records import TransactionRecord
from tally.core.offers.events import redemption_payload

from . import offers_repo as repo
from .engine import Commit, Step, Void
from .offers_reversals import RedemptionChanged
from .outbox import emit

if TYPE_CHECKING:
    from tally.services import Services


async def finalize_redemptions(
    services: Services, now: datetime | None = None, *, limit: int = 500
) -> int:
    moment = now or services.clock.now()
    async with services.db.read() as conn:
        due = await repo.due_redemptions(conn, moment, limit=limit)
    done = 0
    for redemption_id in due:
        done += await finalize_redemption(services, redemption_id, moment)
    return done


async def finalize_redemption(services: Services, redemption_id: str, now: datetime) -> bool:
    """Make a pending reward final; False if it is not pending or not due yet."""
    async with services.db.read() as conn:
        before = await repo.get_redemption(conn, redemption_id)
    if before.status != "pending" or (before.final_at is not None and before.final_at > now):
        return False
    keep = before.amount - before.reversed_amount
    steps: list[Step] = []
    if keep > 0:
        steps.append(Commit(before.transaction_id, precise_amount=keep))
    if keep < before.amount:
        steps.append(Void(before.transaction_id))
    status = (
        "final" if keep == before.amount else ("partially_reversed" if keep > 0 else "reversed")
    )
    after = replace(before, status=status, updated_at=now)

    async def write(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
        if not await repo.update_redemption(conn, before, after, now=now):
            raise RedemptionChanged(f"redemption {redemption_id} changed meanwhile")
        await emit(
            conn,
            "offer.redemption.finalized",
            redemption_payload(after, kept=keep),
            now=now,
            subject_id=redemption_id,
        )

    try:
        await services.engine.execute(steps, extra=write)
    except (RedemptionChanged, AlreadyCommitted, AlreadyVoided):
        return False
    return True
