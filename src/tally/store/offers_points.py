"""Pay with Points: capturing a points hold on clearing, releasing it on reversal or expiry.

On clearing, the points for ``min(clearing amount, auth amount)`` are committed (rounded up, never
more than were held) and the rest of the hold is released in the same transaction; the clearing
becomes a ``pay_with_points`` redemption and ``offer.redeemed`` is emitted. A clearing paid with
points earns no other reward (one redemption per transaction).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.errors import AlreadyCommitted, AlreadyVoided, NotInflight, TallyError
from tally.core.ids import new_id
from tally.core.ledger.records import TransactionRecord
from tally.core.offers.events import redeemed_payload
from tally.core.offers.feed import CardTransaction, Outcome, Redemption, transaction_view
from tally.core.offers.model import LinkedCard

from . import offers_repo as repo
from .engine import Commit, Step, Void
from .outbox import emit

if TYPE_CHECKING:
    from tally.services import Services


class PointsHoldSettled(TallyError):
    """Raised inside a transaction when the points hold was settled meanwhile; it rolls back."""

    code = "PWP_HOLD_SETTLED"
    internal = True


async def capture_points(
    services: Services, ctx: CardTransaction, auth: CardTransaction, card: LinkedCard, digest: str
) -> bool:
    """Settle ``auth``'s points hold with clearing ``ctx``; False if the hold is gone."""
    async with services.db.read() as conn:
        offer = await repo.get_offer(conn, str(auth.points_offer_id))
    rule, held = offer.pay_with_points, int(auth.points_held or 0)
    covered = min(ctx.amount, auth.amount)
    points = min(held, rule.points_for(covered)) if rule is not None else held
    hold = str(auth.points_hold_id)
    steps: list[Step] = [Commit(hold, precise_amount=points)]
    if points < held:
        steps.append(Void(hold))
    now = ctx.created_at
    redemption = Redemption(
        redemption_id=new_id("ofrd"),
        offer_id=offer.offer_id,
        card_id=card.card_id,
        person_id=card.person_id,
        card_transaction_id=ctx.ctx_id,
        kind="pay_with_points",
        reward_type="points",
        amount=points,
        currency=str(auth.points_currency),
        spend=covered,
        status="final",
        transaction_id="",
        created_at=now,
        updated_at=now,
        final_at=now,
    )

    async def write(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
        if not await repo.set_points_status(
            conn, auth.ctx_id, expected="held", status="captured", now=now
        ):
            raise PointsHoldSettled("the points hold was settled meanwhile")
        redemption.transaction_id = records[0].transaction_id
        ctx.outcome, ctx.offer_id, ctx.redemption_id = (
            Outcome.POINTS_CAPTURED,
            offer.offer_id,
            redemption.redemption_id,
        )
        ctx.points_offer_id, ctx.points_currency = offer.offer_id, auth.points_currency
        ctx.points_held, ctx.points_hold_id, ctx.points_status = points, hold, "captured"
        ctx.explanation = {
            "matched": True,
            "reason": "pay_with_points",
            "message": f"{points} points paid for {covered} of the amount",
            "offers": [],
        }
        await repo.insert_ctx(conn, ctx, digest)
        await repo.insert_redemption(conn, redemption)
        await emit(
            conn,
            "offer.redeemed",
            redeemed_payload(redemption, offer, card, ctx),
            now=now,
            subject_id=redemption.redemption_id,
        )

    try:
        await services.engine.execute(steps, extra=write)
    except (PointsHoldSettled, AlreadyCommitted, AlreadyVoided, NotInflight):
        _reset(ctx)
        return False
    return True


def _reset(ctx: CardTransaction) -> None:
    ctx.outcome, ctx.offer_id, ctx.redemption_id = Outcome.RECORDED, None, None
    ctx.points_offer_id = ctx.points_currency = ctx.points_hold_id = ctx.points_status = None
    ctx.points_held = None


async def release_points(
    services: Services, auth: CardTransaction, status: str, *, now: datetime
) -> bool:
    """Void ``auth``'s points hold (``status`` = released or expired); False if already settled."""

    async def write(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
        if not await repo.set_points_status(
            conn, auth.ctx_id, expected="held", status=status, now=now
        ):
            raise PointsHoldSettled("the points hold was settled meanwhile")
        auth.points_status, auth.updated_at = status, now
        await emit(
            conn,
            "offer.points.released",
            {**transaction_view(auth), "reason": status},
            now=now,
            subject_id=auth.ctx_id,
        )

    try:
        await services.engine.execute([Void(str(auth.points_hold_id))], extra=write)
    except (PointsHoldSettled, AlreadyCommitted, AlreadyVoided):
        return False
    return True


async def expire_points_holds(
    services: Services, now: datetime | None = None, *, limit: int = 500
) -> int:
    """Release every points hold past its expiry; returns how many were released."""
    moment = now or services.clock.now()
    async with services.db.read() as conn:
        due = await repo.expired_points_holds(conn, moment, limit=limit)
    released = 0
    for ctx_id in due:
        released += await expire_points_hold(services, ctx_id, moment)
    return released


async def expire_points_hold(services: Services, ctx_id: str, now: datetime) -> bool:
    async with services.db.read() as conn:
        auth = await repo.get_ctx(conn, ctx_id)
    if auth.points_status != "held" or (auth.points_expires_at and auth.points_expires_at > now):
        return False
    return await release_points(services, auth, "expired", now=now)
