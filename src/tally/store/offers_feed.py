"""The card network's feed (``POST /card-transactions``): record, match, reward, hold points.

- Idempotent on the network id: the ``card_transactions.network_id`` column is unique, and every
  ledger posting a message causes has a reference derived from it (``ctx:<network id>:...``), so
  the same message twice, even at the same moment from two processes, has one effect. A repeat
  returns the first outcome; a repeat with different content is a 409.
- ``auth``: if a linked, live offer at this merchant offers Pay with Points and the person has
  the points, the points are held (an inflight transaction mirroring the card hold).
- ``clearing``: settles a points hold (commit, partially if the clearing is smaller; the rest is
  released), or else runs matching and posts the reward (see ``core/offers/matching.py``).
- ``refund`` / ``reversal``: see :mod:`tally.store.offers_reversals`.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.cards import pan
from tally.core.errors import DuplicateReference, InsufficientFunds
from tally.core.ids import new_id
from tally.core.ledger.records import TransactionRecord
from tally.core.ledger.transfers import TransferRequest, plan_transfer
from tally.core.offers.errors import NetworkIdReused, OfferLimitReached
from tally.core.offers.events import redeemed_payload
from tally.core.offers.feed import (
    CardTransaction,
    FeedItem,
    Outcome,
    Redemption,
    parse_feed,
    transaction_view,
)
from tally.core.offers.matching import MESSAGES, Spend, choose, explain
from tally.core.offers.model import PWP_DESTINATION, LinkedCard, Offer

from . import offers_repo as repo
from .engine import Post, Step
from .jobs_repo import schedule
from .offers_enrollment import fingerprint_key
from .outbox import emit

if TYPE_CHECKING:
    from tally.services import Services

REDEMPTION_FINAL_JOB = "offers.redemption_final"
POINTS_HOLD_JOB = "offers.points_hold_expiry"


async def ingest(services: Services, raw: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """(card transaction, created). The card number, if sent, never leaves this function."""
    now = services.clock.now()
    item, digits = parse_feed(raw, now=now)
    card: LinkedCard | None = None
    async with services.db.read() as conn:
        if digits is not None:
            card = await repo.card_by_fingerprint(
                conn, pan.fingerprint(digits, fingerprint_key(services.settings))
            )
            digits = None
        elif item.card_id is not None:
            card = await repo.get_card(conn, item.card_id)
        digest = hashlib.sha256(
            item.digest_fields(card.card_id if card else None).encode()
        ).hexdigest()
        seen = await repo.ctx_by_network_id(conn, item.network_id)
    if seen is not None:
        return _replay(seen, digest), False
    ctx = CardTransaction(
        ctx_id=new_id("ctx"),
        network_id=item.network_id,
        type=item.type,
        card_id=card.card_id if card else None,
        merchant_id=item.merchant_id,
        amount=item.amount,
        currency=item.currency,
        related_network_id=item.related_network_id,
        occurred_at=item.occurred_at,
        outcome=Outcome.RECORDED,
        explanation={},
        created_at=now,
        updated_at=now,
    )
    try:
        if card is None:
            ctx.outcome, ctx.explanation = Outcome.CARD_NOT_ENROLLED, explain("card_not_enrolled")
            await record(services, ctx, digest)
        elif item.type == "auth":
            await _auth(services, ctx, card, digest)
        elif item.type == "clearing":
            await _clearing(services, ctx, card, item, digest)
        else:
            from .offers_reversals import reverse_for

            await reverse_for(services, ctx, card, digest)
    except (DuplicateReference, sa.exc.IntegrityError):
        async with services.db.read() as conn:
            again = await repo.ctx_by_network_id(conn, item.network_id)
        if again is None:
            raise
        return _replay(again, digest), False
    return transaction_view(ctx), True


def _replay(seen: tuple[CardTransaction, str], digest: str) -> dict[str, Any]:
    ctx, first_digest = seen
    if first_digest != digest:
        raise NetworkIdReused(
            f"card transaction {ctx.network_id} was already received with different content",
            details={"card_transaction_id": ctx.ctx_id},
        )
    return transaction_view(ctx)


async def record(services: Services, ctx: CardTransaction, digest: str) -> None:
    """Write a card transaction that moves nothing on the ledger."""
    async with services.db.write() as conn:
        await repo.insert_ctx(conn, ctx, digest)
        await emit(
            conn,
            "offer.card_transaction.recorded",
            transaction_view(ctx),
            now=ctx.created_at,
            subject_id=ctx.ctx_id,
        )


async def points_balance(
    services: Services, person_id: str, currency: str, *, create: bool
) -> str | None:
    """The person's points balance: theirs if set on the person, else the one Tally keeps."""
    async with services.db.read() as conn:
        person = await repo.get_person(conn, person_id)
        found = await repo.person_balance(conn, person_id, "points", currency)
    if person.points_balance_id is not None:
        return person.points_balance_id
    if found is not None or not create:
        return found
    return await _create_balance(services, person_id, "points", currency)


async def cashback_balance(services: Services, person_id: str, currency: str) -> str:
    async with services.db.read() as conn:
        found = await repo.person_balance(conn, person_id, "cashback", currency)
    return found or await _create_balance(services, person_id, "cashback", currency)


async def _create_balance(services: Services, person_id: str, purpose: str, currency: str) -> str:
    for _ in range(2):
        try:
            async with services.db.write() as conn:
                found = await repo.person_balance(conn, person_id, purpose, currency)
                return found or await repo.create_person_balance(
                    conn, person_id, purpose, currency, now=services.clock.now()
                )
        except sa.exc.IntegrityError:
            continue  # created by a concurrent first reward: read it
    raise AssertionError("unreachable")


def transfer(
    reference: str,
    currency: str,
    amount: int,
    source: str,
    destination: str,
    *,
    inflight: bool = False,
    meta: dict[str, Any],
    overdraft: bool = False,
    now: Any,
) -> Post:
    return Post(
        plan_transfer(
            TransferRequest(
                currency=currency,
                reference=reference,
                precise_amount=amount,
                precision=1,
                source=source,
                destination=destination,
                inflight=inflight,
                meta_data=meta,
                allow_overdraft=overdraft,
                description=meta.get("description", ""),
            ),
            now=now,
        )
    )


# ---- auth: Pay with Points holds ------------------------------------------------------------


async def _auth(services: Services, ctx: CardTransaction, card: LinkedCard, digest: str) -> None:
    async with services.db.read() as conn:
        candidates = await repo.links_with_offers(conn, card.card_id)
    spend = Spend(ctx.merchant_id, ctx.amount, ctx.currency, ctx.occurred_at)
    pwp = [
        o
        for o, link in candidates
        if link.status == "active"
        and o.pay_with_points
        and o.merchant_id == spend.merchant_id
        and o.currency == spend.currency
        and o.live_at(spend.occurred_at)
    ]
    ctx.explanation = explain("not_a_clearing")
    if not pwp:
        await record(services, ctx, digest)
        return
    offer = max(pwp, key=lambda o: (o.created_at, o.offer_id))
    rule = offer.pay_with_points
    assert rule is not None
    points = rule.points_for(ctx.amount)
    balance = await points_balance(services, card.person_id, rule.points_currency, create=False)
    if balance is None:
        ctx.explanation["pay_with_points"] = "the person has no points balance"
        await record(services, ctx, digest)
        return
    ctx.points_offer_id, ctx.points_currency, ctx.points_held = (
        offer.offer_id,
        rule.points_currency,
        points,
    )
    ctx.points_status, ctx.outcome = "held", Outcome.POINTS_HELD
    ctx.points_expires_at = ctx.created_at + timedelta(hours=rule.hold_hours)
    hold = transfer(
        f"ctx:{ctx.network_id}:points",
        rule.points_currency,
        points,
        balance,
        PWP_DESTINATION,
        inflight=True,
        now=ctx.created_at,
        meta={
            "card_transaction_id": ctx.ctx_id,
            "offer_id": offer.offer_id,
            "description": f"Pay with Points hold at {ctx.merchant_id}",
        },
    )

    async def write(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
        ctx.points_hold_id = records[0].transaction_id
        await repo.insert_ctx(conn, ctx, digest)
        await schedule(
            conn,
            POINTS_HOLD_JOB,
            ctx.ctx_id,
            ctx.points_expires_at or ctx.created_at,
            now=ctx.created_at,
        )
        await emit(
            conn,
            "offer.points.held",
            transaction_view(ctx),
            now=ctx.created_at,
            subject_id=ctx.ctx_id,
        )

    try:
        await services.engine.execute([hold], extra=write)
    except InsufficientFunds:
        for name in (
            "points_offer_id",
            "points_currency",
            "points_held",
            "points_status",
            "points_expires_at",
        ):
            setattr(ctx, name, None)
        ctx.outcome = Outcome.RECORDED
        ctx.explanation["pay_with_points"] = f"the person has fewer than {points} points"
        await record(services, ctx, digest)


# ---- clearing: capture points or reward -----------------------------------------------------


async def _clearing(
    services: Services, ctx: CardTransaction, card: LinkedCard, item: FeedItem, digest: str
) -> None:
    auth = None
    if item.related_network_id is not None:
        async with services.db.read() as conn:
            found = await repo.ctx_by_network_id(conn, item.related_network_id)
        auth = found[0] if found is not None else None
    if auth is not None and auth.points_status == "held":
        from .offers_points import capture_points

        if await capture_points(services, ctx, auth, card, digest):
            return
    await _reward(services, ctx, card, digest)


async def _reward(services: Services, ctx: CardTransaction, card: LinkedCard, digest: str) -> None:
    async with services.db.read() as conn:
        candidates = await repo.links_with_offers(conn, card.card_id)
    match = choose(candidates, Spend(ctx.merchant_id, ctx.amount, ctx.currency, ctx.occurred_at))
    ctx.explanation = match.explanation
    if match.offer is None:
        ctx.outcome = Outcome.NOT_MATCHED
        await record(services, ctx, digest)
        return
    offer, link = match.offer, next(lk for o, lk in candidates if o is match.offer)
    try:
        await _post_reward(services, ctx, card, offer, link.card_offer_id, match.reward, digest)
    except (OfferLimitReached, InsufficientFunds) as full:
        reason = full.reason if isinstance(full, OfferLimitReached) else "funding_exhausted"
        ctx.outcome, ctx.offer_id, ctx.redemption_id = Outcome.NOT_MATCHED, None, None
        ctx.explanation = explain(
            "no_offer_qualified",
            [
                {
                    "offer_id": offer.offer_id,
                    "qualified": False,
                    "reasons": [reason],
                    "messages": [MESSAGES[reason]],
                }
            ],
        )
        await record(services, ctx, digest)


async def _post_reward(
    services: Services,
    ctx: CardTransaction,
    card: LinkedCard,
    offer: Offer,
    card_offer_id: str,
    amount: int,
    digest: str,
) -> None:
    reward = offer.reward
    if reward.type == "points":
        currency = reward.points_currency or ""
        destination = await points_balance(services, card.person_id, currency, create=True)
    else:
        currency = offer.currency
        destination = await cashback_balance(services, card.person_id, currency)
    days = offer.return_period_days
    now = ctx.created_at
    redemption = Redemption(
        redemption_id=new_id("ofrd"),
        offer_id=offer.offer_id,
        card_id=card.card_id,
        person_id=card.person_id,
        card_transaction_id=ctx.ctx_id,
        kind="reward",
        reward_type=reward.type,
        amount=amount,
        currency=currency,
        spend=ctx.amount,
        status="pending" if days else "final",
        transaction_id="",
        created_at=now,
        updated_at=now,
        final_at=now + timedelta(days=days) if days else now,
    )
    steps: list[Step] = [
        transfer(
            f"ctx:{ctx.network_id}:reward",
            currency,
            amount,
            reward.source,
            str(destination),
            inflight=bool(days),
            now=now,
            meta={
                "redemption_id": redemption.redemption_id,
                "offer_id": offer.offer_id,
                "card_transaction_id": ctx.ctx_id,
                "description": f"{reward.type} for {offer.name}",
            },
        )
    ]

    async def write(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
        if not await repo.take_link_slot(conn, card_offer_id, offer.max_per_card):
            raise OfferLimitReached("card_limit_reached", "the card's limit was just reached")
        if not await repo.take_offer_slot(conn, offer.offer_id):
            raise OfferLimitReached("total_limit_reached", "the offer's limit was just reached")
        redemption.transaction_id = records[0].transaction_id
        ctx.outcome, ctx.offer_id = Outcome.REWARDED, offer.offer_id
        ctx.redemption_id = redemption.redemption_id
        await repo.insert_ctx(conn, ctx, digest)
        await repo.insert_redemption(conn, redemption)
        if days:
            await schedule(
                conn,
                REDEMPTION_FINAL_JOB,
                redemption.redemption_id,
                redemption.final_at or now,
                now=now,
            )
        await emit(
            conn,
            "offer.redeemed",
            redeemed_payload(redemption, offer, card, ctx),
            now=now,
            subject_id=redemption.redemption_id,
        )

    await services.engine.execute(steps, extra=write)
