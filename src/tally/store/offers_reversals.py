"""Refunds and reversals from the network feed: releasing points holds and reversing redemptions.

- A ``reversal`` of an auth with a points hold releases the hold (``offer.points.released``).
- A ``refund`` (of a clearing, or of an auth whose clearing is known) or a ``reversal`` of a
  clearing reverses that clearing's redemption in proportion to the amount refunded so far
  (``core/offers/matching.py`` ``clawback``; all that is left on a full refund):
  - a reward still in its return period (an inflight hold) is voided at once on a full refund;
    a partial refund is recorded and taken off when the reward becomes final;
  - a final reward is taken back by a transfer from the person's balance to the reward's source,
    allowed to overdraw (the person may have spent it already; the debt is visible on the ledger);
  - points paid with Pay with Points are given back to the person.
  ``offer.redemption.reversed`` is emitted with the amount taken back.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.errors import Conflict
from tally.core.ledger.records import TransactionRecord
from tally.core.offers.events import redemption_payload
from tally.core.offers.feed import CardTransaction, Outcome, Redemption, transaction_view
from tally.core.offers.matching import clawback
from tally.core.offers.model import LinkedCard

from . import ledger_repo
from . import offers_repo as repo
from .engine import Step, Void
from .offers_feed import record, transfer
from .offers_points import release_points
from .outbox import emit

if TYPE_CHECKING:
    from tally.services import Services

ATTEMPTS = 3


class RedemptionChanged(Conflict):
    """The redemption changed between reading and writing it (a concurrent refund); retried."""

    code = "OFFER_REDEMPTION_CHANGED"
    internal = True


def _nothing(ctx: CardTransaction, message: str) -> None:
    ctx.outcome = Outcome.RECORDED
    ctx.explanation = {
        "matched": False,
        "reason": "nothing_to_reverse",
        "message": message,
        "offers": [],
    }


async def reverse_for(
    services: Services, ctx: CardTransaction, card: LinkedCard, digest: str
) -> None:
    related_id = str(ctx.related_network_id)
    async with services.db.read() as conn:
        found = await repo.ctx_by_network_id(conn, related_id)
        related = found[0] if found is not None else None
        if related is not None and related.type == "auth" and ctx.type == "refund":
            related = await repo.clearing_for(conn, related_id) or related
    if related is None:
        _nothing(ctx, f"no card transaction {related_id} was received")
        await record(services, ctx, digest)
        return
    if related.type == "auth":
        if ctx.type == "reversal" and related.points_status == "held":
            released = await release_points(services, related, "released", now=ctx.created_at)
            if released:
                ctx.outcome = Outcome.POINTS_RELEASED
                ctx.points_offer_id, ctx.points_hold_id = (
                    related.points_offer_id,
                    related.points_hold_id,
                )
                ctx.points_currency, ctx.points_held = related.points_currency, related.points_held
                ctx.points_status = "released"
                ctx.explanation = {
                    "matched": True,
                    "reason": "points_released",
                    "message": "the points hold was released",
                    "offers": [],
                }
                await record(services, ctx, digest)
                return
        _nothing(ctx, f"auth {related_id} has nothing held and has not cleared")
        await record(services, ctx, digest)
        return
    async with services.db.read() as conn:
        redemption = await repo.redemption_for_ctx(conn, related.ctx_id)
    if redemption is None or redemption.status == "reversed":
        _nothing(ctx, f"clearing {related.network_id} has no redemption left to reverse")
        await record(services, ctx, digest)
        return
    for attempt in range(ATTEMPTS):
        try:
            await _reverse(services, ctx, redemption, digest)
            return
        except RedemptionChanged:
            if attempt == ATTEMPTS - 1:
                raise
            async with services.db.read() as conn:
                redemption = await repo.get_redemption(conn, redemption.redemption_id)


async def _reverse(
    services: Services, ctx: CardTransaction, before: Redemption, digest: str
) -> None:
    now = ctx.created_at
    refunded = min(before.spend, before.refunded_spend + ctx.amount)
    delta = clawback(before.amount, before.spend, refunded, before.reversed_amount)
    reversed_total = before.reversed_amount + delta
    status = before.status
    steps: list[Step] = []
    if before.status == "pending":
        if reversed_total >= before.amount:
            steps.append(Void(before.transaction_id))
            status = "reversed"
    elif delta:
        steps.append(await _take_back(services, ctx, before, delta))
        status = "reversed" if reversed_total >= before.amount else "partially_reversed"
    after = replace(
        before,
        refunded_spend=refunded,
        reversed_amount=reversed_total,
        status=status,
        updated_at=now,
    )
    ctx.outcome, ctx.offer_id, ctx.redemption_id = (
        Outcome.REDEMPTION_REVERSED,
        before.offer_id,
        before.redemption_id,
    )
    ctx.explanation = {
        "matched": True,
        "reason": "redemption_reversed",
        "message": f"{delta} of {before.amount} taken back",
        "offers": [],
    }

    async def write(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
        if not await repo.update_redemption(conn, before, after, now=now):
            raise RedemptionChanged(f"redemption {before.redemption_id} changed meanwhile")
        await repo.insert_ctx(conn, ctx, digest)
        payload = redemption_payload(
            after, reversed_now=delta, card_transaction=transaction_view(ctx)
        )
        await emit(
            conn, "offer.redemption.reversed", payload, now=now, subject_id=before.redemption_id
        )

    if steps:
        await services.engine.execute(steps, extra=write)
        return
    async with services.db.write() as conn:
        await write(conn, [])


async def _take_back(services: Services, ctx: CardTransaction, r: Redemption, amount: int) -> Any:
    async with services.db.read() as conn:
        original = await ledger_repo.get_transaction(conn, r.transaction_id)
    # A reward moved source -> person, points paid with Pay with Points moved person ->
    # @PayWithPoints: either way, taking back (or giving back) swaps the parties.
    source, destination = original.destination, original.source
    return transfer(
        f"ctx:{ctx.network_id}:reverse",
        r.currency,
        amount,
        source,
        destination,
        overdraft=True,
        now=ctx.created_at,
        meta={
            "redemption_id": r.redemption_id,
            "card_transaction_id": ctx.ctx_id,
            "description": f"reversal of {r.redemption_id}",
        },
    )
