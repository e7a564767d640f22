"""Rows of offers, persons, linked cards, card-offer links, card transactions and redemptions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.ids import new_id
from tally.core.ledger.records import BalanceRecord
from tally.core.offers.errors import (
    CardOfferNotFound,
    CardTransactionNotFound,
    LinkedCardNotFound,
    OfferNotFound,
    PersonNotFound,
)
from tally.core.offers.feed import CardTransaction, Redemption
from tally.core.offers.model import (
    CardOffer,
    LinkedCard,
    Offer,
    PayWithPoints,
    Person,
    Reward,
)

from . import cards_repo, ledger_repo
from . import tables_cards as tc

# ---- offers ---------------------------------------------------------------------------------


def offer_from_row(row: Any) -> Offer:
    r = row.reward
    reward = Reward(
        type=r["type"],
        amount=r.get("amount"),
        percent=Decimal(r["percent"]) if r.get("percent") is not None else None,
        max_reward=r.get("max_reward"),
        points_currency=r.get("points_currency"),
        source=r["source"],
    )
    pwp = None
    if row.pay_with_points is not None:
        p = row.pay_with_points
        pwp = PayWithPoints(p["points_currency"], Decimal(p["points_per_unit"]), p["hold_hours"])
    return Offer(
        offer_id=row.offer_id,
        merchant_id=row.merchant_id,
        name=row.name,
        pos_text=row.pos_text,
        reward=reward,
        currency=row.currency,
        min_spend=row.min_spend,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        max_per_card=row.max_per_card,
        max_total=row.max_total,
        redemption_count=row.redemption_count,
        return_period_days=row.return_period_days,
        pay_with_points=pwp,
        meta_data=dict(row.meta_data or {}),
    )


async def insert_offer(conn: AsyncConnection, offer: Offer) -> None:
    await conn.execute(
        tc.offers.insert().values(
            offer_id=offer.offer_id,
            merchant_id=offer.merchant_id,
            name=offer.name,
            pos_text=offer.pos_text,
            reward=offer.reward.as_dict(),
            pay_with_points=offer.pay_with_points.as_dict() if offer.pay_with_points else None,
            min_spend=offer.min_spend,
            currency=offer.currency,
            starts_at=offer.starts_at,
            ends_at=offer.ends_at,
            max_per_card=offer.max_per_card,
            max_total=offer.max_total,
            redemption_count=0,
            status=offer.status,
            return_period_days=offer.return_period_days,
            created_at=offer.created_at,
            updated_at=offer.updated_at,
            meta_data=offer.meta_data,
        )
    )


async def get_offer(conn: AsyncConnection, offer_id: str) -> Offer:
    row = (await conn.execute(sa.select(tc.offers).where(tc.offers.c.offer_id == offer_id))).first()
    if row is None:
        raise OfferNotFound(f"offer {offer_id} not found", details={"offer_id": offer_id})
    return offer_from_row(row)


async def list_offers(
    conn: AsyncConnection, *, merchant_id: str | None, status: str | None, limit: int, offset: int
) -> list[Offer]:
    query = sa.select(tc.offers).order_by(tc.offers.c.id).limit(limit).offset(offset)
    if merchant_id:
        query = query.where(tc.offers.c.merchant_id == merchant_id)
    if status:
        query = query.where(tc.offers.c.status == status)
    return [offer_from_row(row) for row in await conn.execute(query)]


async def update_offer(conn: AsyncConnection, offer_id: str, **values: Any) -> None:
    await conn.execute(tc.offers.update().where(tc.offers.c.offer_id == offer_id).values(**values))


async def take_offer_slot(conn: AsyncConnection, offer_id: str) -> bool:
    """Count one more redemption unless the total limit is reached (atomic, race-free)."""
    o = tc.offers.c
    result = await conn.execute(
        tc.offers.update()
        .where(o.offer_id == offer_id)
        .where(sa.or_(o.max_total.is_(None), o.redemption_count < o.max_total))
        .values(redemption_count=o.redemption_count + 1)
    )
    return bool(result.rowcount)


async def take_link_slot(conn: AsyncConnection, card_offer_id: str, limit: int | None) -> bool:
    link = tc.card_offers.c
    query = (
        tc.card_offers.update()
        .where(link.card_offer_id == card_offer_id)
        .where(link.status == "active")
        .values(redemption_count=link.redemption_count + 1)
    )
    if limit is not None:
        query = query.where(link.redemption_count < limit)
    return bool((await conn.execute(query)).rowcount)


# ---- persons --------------------------------------------------------------------------------


def person_from_row(row: Any) -> Person:
    return Person(
        row.person_id,
        row.full_name,
        row.email,
        row.created_at,
        row.points_balance_id,
        dict(row.meta_data or {}),
    )


async def insert_person(conn: AsyncConnection, person: Person) -> None:
    await conn.execute(
        tc.persons.insert().values(
            person_id=person.person_id,
            full_name=person.full_name,
            email=person.email,
            points_balance_id=person.points_balance_id,
            created_at=person.created_at,
            meta_data=person.meta_data,
        )
    )


async def get_person(conn: AsyncConnection, person_id: str) -> Person:
    row = (
        await conn.execute(sa.select(tc.persons).where(tc.persons.c.person_id == person_id))
    ).first()
    if row is None:
        raise PersonNotFound(f"person {person_id} not found", details={"person_id": person_id})
    return person_from_row(row)


async def update_person(conn: AsyncConnection, person_id: str, **values: Any) -> None:
    await conn.execute(
        tc.persons.update().where(tc.persons.c.person_id == person_id).values(**values)
    )


async def person_by_email(conn: AsyncConnection, email: str) -> Person | None:
    row = (await conn.execute(sa.select(tc.persons).where(tc.persons.c.email == email))).first()
    return person_from_row(row) if row is not None else None


async def person_balance(
    conn: AsyncConnection, person_id: str, purpose: str, currency: str
) -> str | None:
    pb = tc.person_balances.c
    row = (
        await conn.execute(
            sa.select(pb.balance_id)
            .where(pb.person_id == person_id)
            .where(pb.purpose == purpose)
            .where(pb.currency == currency)
        )
    ).first()
    return str(row.balance_id) if row is not None else None


async def create_person_balance(
    conn: AsyncConnection, person_id: str, purpose: str, currency: str, *, now: datetime
) -> str:
    ledger_id = await cards_repo.ensure_ledger(conn, purpose, currency, now=now)
    record = BalanceRecord(
        balance_id=new_id("bln"),
        ledger_id=ledger_id,
        currency=currency,
        created_at=now,
        meta_data={"person_id": person_id, "purpose": purpose},
    )
    await ledger_repo.insert_balance(conn, record, now=now)
    await conn.execute(
        tc.person_balances.insert().values(
            person_id=person_id, purpose=purpose, currency=currency, balance_id=record.balance_id
        )
    )
    return record.balance_id


# ---- linked cards and links -----------------------------------------------------------------


def card_from_row(row: Any) -> LinkedCard:
    return LinkedCard(
        row.card_id,
        row.person_id,
        row.fingerprint,
        row.brand,
        row.first6,
        row.last4,
        row.exp_month,
        row.exp_year,
        row.created_at,
        dict(row.meta_data or {}),
    )


async def insert_card(conn: AsyncConnection, card: LinkedCard) -> None:
    await conn.execute(
        tc.linked_cards.insert().values(
            card_id=card.card_id,
            person_id=card.person_id,
            fingerprint=card.fingerprint,
            brand=card.brand,
            first6=card.first6,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            created_at=card.created_at,
            meta_data=card.meta_data,
        )
    )


async def get_card(conn: AsyncConnection, card_id: str) -> LinkedCard:
    row = (
        await conn.execute(sa.select(tc.linked_cards).where(tc.linked_cards.c.card_id == card_id))
    ).first()
    if row is None:
        raise LinkedCardNotFound(f"card {card_id} not found", details={"card_id": card_id})
    return card_from_row(row)


async def card_by_fingerprint(conn: AsyncConnection, fingerprint: str) -> LinkedCard | None:
    row = (
        await conn.execute(
            sa.select(tc.linked_cards).where(tc.linked_cards.c.fingerprint == fingerprint)
        )
    ).first()
    return card_from_row(row) if row is not None else None


async def list_cards(conn: AsyncConnection, person_id: str) -> list[LinkedCard]:
    rows = await conn.execute(
        sa.select(tc.linked_cards)
        .where(tc.linked_cards.c.person_id == person_id)
        .order_by(tc.linked_cards.c.id)
    )
    return [card_from_row(row) for row in rows]


def link_from_row(row: Any) -> CardOffer:
    return CardOffer(
        row.card_offer_id,
        row.card_id,
        row.offer_id,
        row.status,
        row.redemption_count,
        row.created_at,
        row.updated_at,
    )


async def get_link(conn: AsyncConnection, card_id: str, offer_id: str) -> CardOffer | None:
    c = tc.card_offers.c
    row = (
        await conn.execute(
            sa.select(tc.card_offers).where(c.card_id == card_id).where(c.offer_id == offer_id)
        )
    ).first()
    return link_from_row(row) if row is not None else None


async def get_link_by_id(conn: AsyncConnection, card_id: str, card_offer_id: str) -> CardOffer:
    c = tc.card_offers.c
    row = (
        await conn.execute(
            sa.select(tc.card_offers)
            .where(c.card_id == card_id)
            .where(c.card_offer_id == card_offer_id)
        )
    ).first()
    if row is None:
        raise CardOfferNotFound(
            f"card offer {card_offer_id} not found on card {card_id}",
            details={"card_offer_id": card_offer_id},
        )
    return link_from_row(row)


async def insert_link(conn: AsyncConnection, link: CardOffer) -> None:
    await conn.execute(
        tc.card_offers.insert().values(
            card_offer_id=link.card_offer_id,
            card_id=link.card_id,
            offer_id=link.offer_id,
            status=link.status,
            redemption_count=link.redemption_count,
            created_at=link.created_at,
            updated_at=link.updated_at,
        )
    )


async def set_link_status(
    conn: AsyncConnection, card_offer_id: str, status: str, *, now: datetime
) -> None:
    await conn.execute(
        tc.card_offers.update()
        .where(tc.card_offers.c.card_offer_id == card_offer_id)
        .values(status=status, updated_at=now)
    )


async def list_links(
    conn: AsyncConnection, card_id: str, *, status: str | None = None
) -> list[CardOffer]:
    query = (
        sa.select(tc.card_offers)
        .where(tc.card_offers.c.card_id == card_id)
        .order_by(tc.card_offers.c.id)
    )
    if status:
        query = query.where(tc.card_offers.c.status == status)
    return [link_from_row(row) for row in await conn.execute(query)]


async def links_with_offers(conn: AsyncConnection, card_id: str) -> list[tuple[Offer, CardOffer]]:
    rows = await conn.execute(
        sa.select(tc.card_offers, *[col.label(f"o_{col.name}") for col in tc.offers.c])
        .join(tc.offers, tc.offers.c.offer_id == tc.card_offers.c.offer_id)
        .where(tc.card_offers.c.card_id == card_id)
        .order_by(tc.card_offers.c.id)
    )
    found = []
    for row in rows:
        values = {col.name: getattr(row, f"o_{col.name}") for col in tc.offers.c}
        found.append((offer_from_row(_Obj(values)), link_from_row(row)))
    return found


class _Obj:
    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


# ---- card transactions ----------------------------------------------------------------------

_CTX = tc.card_transactions


def ctx_from_row(row: Any) -> CardTransaction:
    return CardTransaction(
        ctx_id=row.ctx_id,
        network_id=row.network_id,
        type=row.type,
        card_id=row.card_id,
        merchant_id=row.merchant_id,
        amount=row.amount,
        currency=row.currency,
        related_network_id=row.related_network_id,
        occurred_at=row.occurred_at,
        outcome=row.outcome,
        explanation=dict(row.explanation or {}),
        created_at=row.created_at,
        updated_at=row.updated_at,
        offer_id=row.offer_id,
        redemption_id=row.redemption_id,
        points_offer_id=row.points_offer_id,
        points_currency=row.points_currency,
        points_held=row.points_held,
        points_hold_id=row.points_hold_id,
        points_status=row.points_status,
        points_expires_at=row.points_expires_at,
    )


async def insert_ctx(conn: AsyncConnection, ctx: CardTransaction, digest: str) -> None:
    await conn.execute(
        _CTX.insert().values(
            ctx_id=ctx.ctx_id,
            network_id=ctx.network_id,
            type=ctx.type,
            card_id=ctx.card_id,
            merchant_id=ctx.merchant_id,
            amount=ctx.amount,
            currency=ctx.currency,
            related_network_id=ctx.related_network_id,
            occurred_at=ctx.occurred_at,
            outcome=ctx.outcome,
            offer_id=ctx.offer_id,
            redemption_id=ctx.redemption_id,
            explanation=ctx.explanation,
            points_offer_id=ctx.points_offer_id,
            points_currency=ctx.points_currency,
            points_held=ctx.points_held,
            points_hold_id=ctx.points_hold_id,
            points_status=ctx.points_status,
            points_expires_at=ctx.points_expires_at,
            request_digest=digest,
            created_at=ctx.created_at,
            updated_at=ctx.updated_at,
        )
    )


async def ctx_by_network_id(
    conn: AsyncConnection, network_id: str
) -> tuple[CardTransaction, str] | None:
    row = (await conn.execute(sa.select(_CTX).where(_CTX.c.network_id == network_id))).first()
    return (ctx_from_row(row), row.request_digest) if row is not None else None


async def get_ctx(conn: AsyncConnection, ctx_id: str) -> CardTransaction:
    column = _CTX.c.ctx_id if ctx_id.startswith("ctx_") else _CTX.c.network_id
    row = (await conn.execute(sa.select(_CTX).where(column == ctx_id))).first()
    if row is None:
        raise CardTransactionNotFound(
            f"card transaction {ctx_id} not found", details={"id": ctx_id}
        )
    return ctx_from_row(row)


async def clearing_for(conn: AsyncConnection, auth_network_id: str) -> CardTransaction | None:
    row = (
        await conn.execute(
            sa.select(_CTX)
            .where(_CTX.c.related_network_id == auth_network_id)
            .where(_CTX.c.type == "clearing")
            .order_by(_CTX.c.id)
            .limit(1)
        )
    ).first()
    return ctx_from_row(row) if row is not None else None


async def set_points_status(
    conn: AsyncConnection, ctx_id: str, *, expected: str, status: str, now: datetime
) -> bool:
    result = await conn.execute(
        _CTX.update()
        .where(_CTX.c.ctx_id == ctx_id)
        .where(_CTX.c.points_status == expected)
        .values(points_status=status, updated_at=now)
    )
    return bool(result.rowcount)


async def expired_points_holds(conn: AsyncConnection, now: datetime, *, limit: int) -> list[str]:
    rows = await conn.execute(
        sa.select(_CTX.c.ctx_id)
        .where(_CTX.c.points_status == "held")
        .where(_CTX.c.points_expires_at <= now)
        .order_by(_CTX.c.points_expires_at)
        .limit(limit)
    )
    return [row.ctx_id for row in rows]


async def list_ctx(
    conn: AsyncConnection, *, card_id: str | None, limit: int, offset: int
) -> list[CardTransaction]:
    query = sa.select(_CTX).order_by(_CTX.c.id.desc()).limit(limit).offset(offset)
    if card_id:
        query = query.where(_CTX.c.card_id == card_id)
    return [ctx_from_row(row) for row in await conn.execute(query)]


# ---- redemptions ----------------------------------------------------------------------------

_RDM = tc.offer_redemptions


def redemption_from_row(row: Any) -> Redemption:
    return Redemption(
        redemption_id=row.redemption_id,
        offer_id=row.offer_id,
        card_id=row.card_id,
        person_id=row.person_id,
        card_transaction_id=row.card_transaction_id,
        kind=row.kind,
        reward_type=row.reward_type,
        amount=row.amount,
        currency=row.currency,
        spend=row.spend,
        status=row.status,
        transaction_id=row.transaction_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        refunded_spend=row.refunded_spend,
        reversed_amount=row.reversed_amount,
        final_at=row.final_at,
    )


async def insert_redemption(conn: AsyncConnection, r: Redemption) -> None:
    await conn.execute(
        _RDM.insert().values(
            redemption_id=r.redemption_id,
            offer_id=r.offer_id,
            card_id=r.card_id,
            person_id=r.person_id,
            card_transaction_id=r.card_transaction_id,
            kind=r.kind,
            reward_type=r.reward_type,
            amount=r.amount,
            currency=r.currency,
            spend=r.spend,
            refunded_spend=r.refunded_spend,
            reversed_amount=r.reversed_amount,
            status=r.status,
            transaction_id=r.transaction_id,
            final_at=r.final_at,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )
    )


async def get_redemption(conn: AsyncConnection, redemption_id: str) -> Redemption:
    row = (await conn.execute(sa.select(_RDM).where(_RDM.c.redemption_id == redemption_id))).first()
    if row is None:
        raise CardTransactionNotFound(
            f"redemption {redemption_id} not found", details={"redemption_id": redemption_id}
        )
    return redemption_from_row(row)


async def redemption_for_ctx(conn: AsyncConnection, ctx_id: str) -> Redemption | None:
    row = (await conn.execute(sa.select(_RDM).where(_RDM.c.card_transaction_id == ctx_id))).first()
    return redemption_from_row(row) if row is not None else None


async def update_redemption(
    conn: AsyncConnection, before: Redemption, after: Redemption, *, now: datetime
) -> bool:
    """Optimistic update: applies only if the row is still as ``before`` was read."""
    result = await conn.execute(
        _RDM.update()
        .where(_RDM.c.redemption_id == before.redemption_id)
        .where(_RDM.c.status == before.status)
        .where(_RDM.c.reversed_amount == before.reversed_amount)
        .where(_RDM.c.refunded_spend == before.refunded_spend)
        .values(
            status=after.status,
            reversed_amount=after.reversed_amount,
            refunded_spend=after.refunded_spend,
            updated_at=now,
        )
    )
    return bool(result.rowcount)


async def due_redemptions(conn: AsyncConnection, now: datetime, *, limit: int) -> list[str]:
    rows = await conn.execute(
        sa.select(_RDM.c.redemption_id)
        .where(_RDM.c.status == "pending")
        .where(_RDM.c.final_at <= now)
        .order_by(_RDM.c.final_at)
        .limit(limit)
    )
    return [row.redemption_id for row in rows]


async def list_redemptions(
    conn: AsyncConnection, *, offer_id: str | None, card_id: str | None, limit: int, offset: int
) -> list[Redemption]:
    query = sa.select(_RDM).order_by(_RDM.c.id.desc()).limit(limit).offset(offset)
    if offer_id:
        query = query.where(_RDM.c.offer_id == offer_id)
    if card_id:
        query = query.where(_RDM.c.card_id == card_id)
    return [redemption_from_row(row) for row in await conn.execute(query)]
