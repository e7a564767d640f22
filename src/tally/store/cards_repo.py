"""Rows of virtual cards and their authorizations, and the per-currency ledgers cards live in."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.cards.authorization import Authorization, AuthStatus
from tally.core.cards.errors import AuthorizationNotFound, VirtualCardNotFound
from tally.core.cards.model import CardState, IssuedDetails, Limits, VirtualCard
from tally.core.ids import new_id
from tally.core.ledger.records import LedgerRecord

from . import ledger_repo
from . import tables as t
from . import tables_cards as tc
from .types import from_micros

LEDGER_NAMES = {
    "virtual_cards": "Virtual cards {currency}",
    "cashback": "Offer rewards {currency}",
    "points": "Offer points {currency}",
}


async def ensure_ledger(
    conn: AsyncConnection, purpose: str, currency: str, *, now: datetime
) -> str:
    """The ledger for ``purpose`` in ``currency``, created on first use (one per pair).

    Two first uses at once: the second insert hits the primary key, the caller's transaction fails
    and a retry finds the ledger (see :func:`tally.store.cards_issuing.create_virtual_card`).
    """
    found = (
        await conn.execute(
            sa.select(tc.card_ledgers.c.ledger_id)
            .where(tc.card_ledgers.c.purpose == purpose)
            .where(tc.card_ledgers.c.currency == currency)
        )
    ).first()
    if found is not None:
        return str(found.ledger_id)
    ledger = LedgerRecord(
        new_id("ldg"),
        LEDGER_NAMES[purpose].format(currency=currency),
        now,
        {"purpose": purpose, "currency": currency},
    )
    await ledger_repo.insert_ledger(conn, ledger, now=now)
    await conn.execute(
        tc.card_ledgers.insert().values(
            purpose=purpose, currency=currency, ledger_id=ledger.ledger_id
        )
    )
    return ledger.ledger_id


# ---- cards ----------------------------------------------------------------------------------


def card_from_row(row: Any) -> VirtualCard:
    details = None
    if row.details_last4 is not None:
        details = IssuedDetails(
            last4=row.details_last4,
            exp_month=row.details_exp_month,
            exp_year=row.details_exp_year,
            brand=row.details_brand or "",
        )
    return VirtualCard(
        card_id=row.card_id,
        holder_id=row.holder_id,
        holder_type=row.holder_type,
        currency=row.currency,
        ledger_id=row.ledger_id,
        balance_id=row.balance_id,
        state=row.state,
        limits=Limits(row.per_authorization_limit, row.daily_limit),
        created_at=row.created_at,
        updated_at=row.updated_at,
        merchant_lock=list(row.merchant_lock) if row.merchant_lock is not None else None,
        details=details,
        meta_data=dict(row.meta_data or {}),
    )


async def insert_card(
    conn: AsyncConnection, card: VirtualCard, *, ciphertext: bytes | None
) -> None:
    details = card.details
    await conn.execute(
        tc.virtual_cards.insert().values(
            card_id=card.card_id,
            holder_id=card.holder_id,
            holder_type=card.holder_type,
            currency=card.currency,
            ledger_id=card.ledger_id,
            balance_id=card.balance_id,
            state=card.state,
            per_authorization_limit=card.limits.per_authorization,
            daily_limit=card.limits.per_day,
            merchant_lock=card.merchant_lock,
            details_ciphertext=ciphertext,
            details_last4=details.last4 if details else None,
            details_brand=details.brand if details else None,
            details_exp_month=details.exp_month if details else None,
            details_exp_year=details.exp_year if details else None,
            created_at=card.created_at,
            updated_at=card.updated_at,
            meta_data=card.meta_data,
        )
    )


async def get_card(conn: AsyncConnection, card_id: str, *, lock: bool = False) -> VirtualCard:
    query = sa.select(tc.virtual_cards).where(tc.virtual_cards.c.card_id == card_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise VirtualCardNotFound(f"virtual card {card_id} not found", details={"card_id": card_id})
    return card_from_row(row)


async def get_cards(conn: AsyncConnection, card_ids: list[str]) -> dict[str, VirtualCard]:
    """The cards among ``card_ids`` that exist, by id (one query)."""
    query = sa.select(tc.virtual_cards).where(tc.virtual_cards.c.card_id.in_(card_ids))
    return {row.card_id: card_from_row(row) for row in await conn.execute(query)}


# The card columns at the driver level (PostgreSQL): amounts as text, JSON as text.
PG_CARDS = """
SELECT card_id, holder_id, holder_type, currency, ledger_id, balance_id, state,
       per_authorization_limit::text AS per_authorization_limit, daily_limit::text AS daily_limit,
       merchant_lock::text AS merchant_lock, details_last4, details_brand, details_exp_month,
       details_exp_year, created_at, updated_at, meta_data::text AS meta_data
FROM virtual_cards WHERE card_id = ANY($1::varchar[])
"""
_decode = msgspec.json.Decoder()


def card_from_record(row: Any) -> VirtualCard:
    """A card from a driver row of ``PG_CARDS``."""

    def amount(value: str | None) -> int | None:
        return None if value is None else int(value)

    lock = row["merchant_lock"]
    return card_from_row(
        SimpleNamespace(
            **{k: row[k] for k in _RECORD_FIELDS},
            per_authorization_limit=amount(row["per_authorization_limit"]),
            daily_limit=amount(row["daily_limit"]),
            merchant_lock=None if lock is None else _decode.decode(lock),
            created_at=from_micros(row["created_at"]),
            updated_at=from_micros(row["updated_at"]),
            meta_data=_decode.decode(row["meta_data"]),
        )
    )


_RECORD_FIELDS = (
    "card_id",
    "holder_id",
    "holder_type",
    "currency",
    "ledger_id",
    "balance_id",
    "state",
    "details_last4",
    "details_brand",
    "details_exp_month",
    "details_exp_year",
)


async def list_cards(
    conn: AsyncConnection, *, holder_id: str | None, limit: int, offset: int
) -> list[VirtualCard]:
    query = sa.select(tc.virtual_cards).order_by(tc.virtual_cards.c.id).limit(limit).offset(offset)
    if holder_id:
        query = query.where(tc.virtual_cards.c.holder_id == holder_id)
    return [card_from_row(row) for row in await conn.execute(query)]


async def lock_balance(conn: AsyncConnection, balance_id: str) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(
            sa.select(t.balances.c.id)
            .where(t.balances.c.balance_id == balance_id)
            .with_for_update()
        )


async def set_state(conn: AsyncConnection, card_id: str, state: str, *, now: datetime) -> None:
    await conn.execute(
        tc.virtual_cards.update()
        .where(tc.virtual_cards.c.card_id == card_id)
        .values(state=state, updated_at=now)
    )


# ---- authorizations -------------------------------------------------------------------------

_AUTH = tc.card_authorizations


def auth_from_row(row: Any) -> Authorization:
    return Authorization(
        auth_id=row.auth_id,
        card_id=row.card_id,
        amount=row.amount,
        currency=row.currency,
        merchant_id=row.merchant_id,
        merchant_name=row.merchant_name,
        merchant_category=row.merchant_category,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
        decline_reason=row.decline_reason,
        decline_message=row.decline_message,
        hold_transaction_id=row.hold_transaction_id,
        captured_amount=row.captured_amount,
        released_amount=row.released_amount,
        expires_at=row.expires_at,
        meta_data=dict(row.meta_data or {}),
    )


def auth_values(auth: Authorization) -> dict[str, Any]:
    return {
        "auth_id": auth.auth_id,
        "card_id": auth.card_id,
        "amount": auth.amount,
        "currency": auth.currency,
        "merchant_id": auth.merchant_id,
        "merchant_name": auth.merchant_name,
        "merchant_category": auth.merchant_category,
        "status": auth.status,
        "decline_reason": auth.decline_reason,
        "decline_message": auth.decline_message,
        "hold_transaction_id": auth.hold_transaction_id,
        "captured_amount": auth.captured_amount,
        "released_amount": auth.released_amount,
        "expires_at": auth.expires_at,
        "created_at": auth.created_at,
        "updated_at": auth.updated_at,
        "meta_data": auth.meta_data,
    }


async def insert_authorization(conn: AsyncConnection, auth: Authorization) -> None:
    await conn.execute(_AUTH.insert().values(**auth_values(auth)))


async def get_authorization(conn: AsyncConnection, card_id: str, auth_id: str) -> Authorization:
    row = (
        await conn.execute(
            sa.select(_AUTH).where(_AUTH.c.auth_id == auth_id).where(_AUTH.c.card_id == card_id)
        )
    ).first()
    if row is None:
        raise AuthorizationNotFound(
            f"authorization {auth_id} not found on card {card_id}",
            details={"auth_id": auth_id, "card_id": card_id},
        )
    return auth_from_row(row)


async def find_authorization(conn: AsyncConnection, auth_id: str) -> Authorization | None:
    row = (await conn.execute(sa.select(_AUTH).where(_AUTH.c.auth_id == auth_id))).first()
    return auth_from_row(row) if row is not None else None


async def list_authorizations(
    conn: AsyncConnection, card_id: str, *, status: str | None, limit: int, offset: int
) -> list[Authorization]:
    query = (
        sa.select(_AUTH)
        .where(_AUTH.c.card_id == card_id)
        .order_by(_AUTH.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if status:
        query = query.where(_AUTH.c.status == status.upper())
    return [auth_from_row(row) for row in await conn.execute(query)]


def _approved_sum(card_id: str, since: datetime) -> Any:
    pending = sa.case(
        (_AUTH.c.status == AuthStatus.PENDING, _AUTH.c.amount), else_=_AUTH.c.captured_amount
    )
    return (
        sa.select(sa.func.coalesce(sa.func.sum(pending), 0))
        .where(_AUTH.c.card_id == card_id)
        .where(_AUTH.c.created_at >= since)
        .where(_AUTH.c.status.in_([AuthStatus.PENDING, AuthStatus.CAPTURED]))
        .scalar_subquery()
    )


async def insert_if_allowed(
    conn: AsyncConnection, auth: Authorization, since: datetime, per_day: int | None
) -> bool:
    """Insert an approved authorization only if the card is still active and the per-day limit
    still has room (one statement); False if not."""
    values = auth_values(auth)
    columns = list(values)
    literals = [sa.literal(values[name], type_=_AUTH.c[name].type).label(name) for name in columns]
    cv = tc.virtual_cards.c
    active = sa.exists().where(cv.card_id == auth.card_id).where(cv.state == CardState.ACTIVE)
    query = sa.select(*literals).where(active)
    if per_day is not None:
        query = query.where(_approved_sum(auth.card_id, since) + auth.amount <= per_day)
    result = await conn.execute(_AUTH.insert().from_select(columns, query))
    return bool(result.rowcount)


async def approved_since(conn: AsyncConnection, card_id: str, since: datetime) -> int:
    """Approved amounts since ``since``: pending in full, captured as captured."""
    pending = sa.case(
        (_AUTH.c.status == AuthStatus.PENDING, _AUTH.c.amount), else_=_AUTH.c.captured_amount
    )
    total = (
        await conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(pending), 0))
            .where(_AUTH.c.card_id == card_id)
            .where(_AUTH.c.created_at >= since)
            .where(_AUTH.c.status.in_([AuthStatus.PENDING, AuthStatus.CAPTURED]))
        )
    ).scalar_one()
    return int(total)


async def finish_authorization(
    conn: AsyncConnection,
    auth_id: str,
    *,
    status: str,
    captured: int,
    released: int,
    now: datetime,
) -> bool:
    """Move a PENDING authorization to its final status; False if it was no longer pending."""
    result = await conn.execute(
        _AUTH.update()
        .where(_AUTH.c.auth_id == auth_id)
        .where(_AUTH.c.status == AuthStatus.PENDING)
        .values(status=status, captured_amount=captured, released_amount=released, updated_at=now)
    )
    return bool(result.rowcount)


async def expired_pending(conn: AsyncConnection, now: datetime, *, limit: int) -> list[Any]:
    rows = await conn.execute(
        sa.select(_AUTH.c.auth_id, _AUTH.c.card_id)
        .where(_AUTH.c.status == AuthStatus.PENDING)
        .where(_AUTH.c.expires_at <= now)
        .order_by(_AUTH.c.expires_at)
        .limit(limit)
    )
    return list(rows)
