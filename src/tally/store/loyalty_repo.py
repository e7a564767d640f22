"""Rows of the loyalty tables: inserts, reads, and conversions to core records."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.loyalty import errors as le
from tally.core.loyalty.program import config_to_store, parse_config
from tally.core.loyalty.records import (
    Account,
    Customer,
    Payment,
    PointsTx,
    Program,
    Redemption,
    Refund,
    Reward,
)

from . import tables_loyalty as lt

# ---- conversions ------------------------------------------------------------------------------


def program_from_row(row: Any) -> Program:
    return Program(
        program_id=row.program_id,
        name=row.name,
        ledger_id=row.ledger_id,
        point_unit=row.point_unit,
        issuing_balance_id=row.issuing_balance_id,
        redemption_balance_id=row.redemption_balance_id,
        pending_balance_id=row.pending_balance_id,
        config=parse_config(dict(row.config)),
        created_at=row.created_at,
        updated_at=row.updated_at,
        metadata=dict(row.meta_data or {}),
    )


def program_row(p: Program) -> dict[str, Any]:
    return {
        "program_id": p.program_id,
        "name": p.name,
        "ledger_id": p.ledger_id,
        "point_unit": p.point_unit,
        "issuing_balance_id": p.issuing_balance_id,
        "redemption_balance_id": p.redemption_balance_id,
        "pending_balance_id": p.pending_balance_id,
        "config": config_to_store(p.config),
        "meta_data": p.metadata,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    }


def customer_from_row(row: Any) -> Customer:
    return Customer(row.customer_id, row.name, row.email, row.created_at, dict(row.meta_data or {}))


def account_from_row(row: Any) -> Account:
    return Account(
        account_id=row.account_id,
        program_id=row.program_id,
        balance_id=row.balance_id,
        created_at=row.created_at,
        customer_id=row.customer_id,
        deficit=row.deficit,
        metadata=dict(row.meta_data or {}),
    )


def reward_from_row(row: Any) -> Reward:
    return Reward(
        reward_id=row.reward_id,
        program_id=row.program_id,
        name=row.name,
        points_cost=row.points_cost,
        discount_amount=row.discount_amount,
        currency=row.currency,
        created_at=row.created_at,
        active=row.active,
        metadata=dict(row.meta_data or {}),
    )


def redemption_from_row(row: Any) -> Redemption:
    return Redemption(
        redemption_id=row.redemption_id,
        program_id=row.program_id,
        account_id=row.account_id,
        reward_id=row.reward_id,
        points=row.points,
        discount_amount=row.discount_amount,
        currency=row.currency,
        state=row.state,
        hold_transaction_id=row.hold_transaction_id,
        expires_at=row.expires_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        payment_id=row.payment_id,
        settle_transaction_id=row.settle_transaction_id,
        release_reason=row.release_reason,
    )


def redemption_row(r: Redemption) -> dict[str, Any]:
    return {name: getattr(r, name) for name in Redemption.__slots__}


PAYMENT_FIELDS = [
    "payment_id",
    "amount",
    "currency",
    "status",
    "created_at",
    "customer_id",
    "account_id",
    "program_id",
    "amount_discount",
    "amount_refunded",
    "points_earned",
    "points_clawed_back",
    "points_redeemed",
    "points_restored",
    "description",
    "completed_at",
    "failed_at",
    "failure_reason",
]


def payment_from_row(row: Any, redemptions: list[str]) -> Payment:
    values = {name: getattr(row, name) for name in PAYMENT_FIELDS}
    return Payment(**values, metadata=dict(row.meta_data or {}), redemptions=redemptions)


def payment_row(p: Payment) -> dict[str, Any]:
    return {**{name: getattr(p, name) for name in PAYMENT_FIELDS}, "meta_data": p.metadata}


def refund_from_row(row: Any) -> Refund:
    return Refund(
        refund_id=row.refund_id,
        payment_id=row.payment_id,
        amount=row.amount,
        currency=row.currency,
        created_at=row.created_at,
        points_due=row.points_due,
        points_clawed_back=row.points_clawed_back,
        points_restored=row.points_restored,
        reason=row.reason,
        metadata=dict(row.meta_data or {}),
    )


def refund_row(r: Refund) -> dict[str, Any]:
    return {
        "refund_id": r.refund_id,
        "payment_id": r.payment_id,
        "amount": r.amount,
        "currency": r.currency,
        "created_at": r.created_at,
        "points_due": r.points_due,
        "points_clawed_back": r.points_clawed_back,
        "points_restored": r.points_restored,
        "reason": r.reason,
        "meta_data": r.metadata,
    }


PTX_FIELDS = [
    "ptx_id",
    "account_id",
    "program_id",
    "points",
    "type",
    "created_at",
    "ledger_transaction",
    "payment_id",
    "refund_id",
    "redemption_id",
    "amount",
    "currency",
    "reason",
    "available_at",
    "details",
]


def ptx_from_row(row: Any) -> PointsTx:
    values = {name: getattr(row, name) for name in PTX_FIELDS}
    values["details"] = dict(values["details"] or {})
    return PointsTx(**values)


def ptx_row(x: PointsTx) -> dict[str, Any]:
    return {name: getattr(x, name) for name in PTX_FIELDS}


# ---- reads ------------------------------------------------------------------------------------


async def _one(conn: AsyncConnection, table: sa.Table, column: str, value: str) -> Any:
    return (await conn.execute(sa.select(table).where(table.c[column] == value))).first()


async def get_program(conn: AsyncConnection, program_id: str, *, body: bool = False) -> Program:
    row = await _one(conn, lt.loyalty_programs, "program_id", program_id)
    if row is None:
        cls = le.UnknownObject if body else le.ProgramNotFound
        raise cls(f"loyalty program {program_id} not found", details={"program": program_id})
    return program_from_row(row)


async def get_customer(conn: AsyncConnection, customer_id: str, *, body: bool = False) -> Customer:
    row = await _one(conn, lt.loyalty_customers, "customer_id", customer_id)
    if row is None:
        cls = le.UnknownObject if body else le.CustomerNotFound
        raise cls(f"customer {customer_id} not found", details={"customer": customer_id})
    return customer_from_row(row)


async def get_account(conn: AsyncConnection, account_id: str, *, body: bool = False) -> Account:
    row = await _one(conn, lt.loyalty_accounts, "account_id", account_id)
    if row is None:
        cls = le.UnknownObject if body else le.AccountNotFound
        raise cls(f"loyalty account {account_id} not found", details={"account": account_id})
    return account_from_row(row)


async def get_reward(conn: AsyncConnection, reward_id: str, *, body: bool = False) -> Reward:
    row = await _one(conn, lt.loyalty_rewards, "reward_id", reward_id)
    if row is None:
        cls = le.UnknownObject if body else le.RewardNotFound
        raise cls(f"reward {reward_id} not found", details={"reward": reward_id})
    return reward_from_row(row)


async def get_redemption(
    conn: AsyncConnection, redemption_id: str, *, body: bool = False
) -> Redemption:
    row = await _one(conn, lt.loyalty_redemptions, "redemption_id", redemption_id)
    if row is None:
        cls = le.UnknownObject if body else le.RedemptionNotFound
        raise cls(f"redemption {redemption_id} not found", details={"redemption": redemption_id})
    return redemption_from_row(row)


async def payment_redemptions(conn: AsyncConnection, payment_id: str) -> list[Redemption]:
    rows = await conn.execute(
        sa.select(lt.loyalty_redemptions)
        .where(lt.loyalty_redemptions.c.payment_id == payment_id)
        .order_by(lt.loyalty_redemptions.c.id)
    )
    return [redemption_from_row(r) for r in rows]


async def get_payment(conn: AsyncConnection, payment_id: str, *, body: bool = False) -> Payment:
    row = await _one(conn, lt.payments, "payment_id", payment_id)
    if row is None:
        cls = le.UnknownObject if body else le.PaymentNotFound
        raise cls(f"payment {payment_id} not found", details={"payment": payment_id})
    ids = [r.redemption_id for r in await payment_redemptions(conn, payment_id)]
    return payment_from_row(row, ids)


async def get_refund(conn: AsyncConnection, refund_id: str) -> Refund:
    row = await _one(conn, lt.refunds, "refund_id", refund_id)
    if row is None:
        raise le.RefundNotFound(f"refund {refund_id} not found", details={"refund": refund_id})
    return refund_from_row(row)


async def customer_accounts(conn: AsyncConnection, customer_id: str) -> list[Account]:
    rows = await conn.execute(
        sa.select(lt.loyalty_accounts)
        .where(lt.loyalty_accounts.c.customer_id == customer_id)
        .order_by(lt.loyalty_accounts.c.id)
    )
    return [account_from_row(r) for r in rows]


async def insert_ptx(conn: AsyncConnection, items: list[PointsTx]) -> None:
    if items:
        await conn.execute(lt.points_transactions.insert(), [ptx_row(x) for x in items])


# ---- cursor pages -----------------------------------------------------------------------------

MAX_PAGE = 100


async def page(
    conn: AsyncConnection,
    query: sa.Select[Any],
    table: sa.Table,
    key: str,
    *,
    limit: int,
    starting_after: str | None,
) -> tuple[list[Any], bool]:
    """Newest first; ``starting_after`` is the id of the last object of the previous page."""
    if not 1 <= limit <= MAX_PAGE:
        raise le.LoyaltyInvalid(f"limit must be between 1 and {MAX_PAGE}; got {limit}")
    if starting_after:
        anchor = (
            await conn.execute(sa.select(table.c.id).where(table.c[key] == starting_after))
        ).first()
        if anchor is None:
            raise le.LoyaltyInvalid(f"starting_after: {starting_after} is not a known id")
        query = query.where(table.c.id < anchor.id)
    rows = list(await conn.execute(query.order_by(table.c.id.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def listing(items: list[dict[str, Any]], has_more: bool, url: str) -> dict[str, Any]:
    return {"object": "list", "url": url, "has_more": has_more, "data": items}


# ---- members with their program in one round trip ----------------------------------------------


class _Prefixed:
    """A row's columns with a prefix stripped, so the row converters can read it."""

    def __init__(self, row: Any, prefix: str) -> None:
        self._row, self._prefix = row, prefix

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, self._prefix + name)


def _member_columns() -> list[Any]:
    a, p = lt.loyalty_accounts, lt.loyalty_programs
    return [
        *(col.label(f"a_{col.name}") for col in a.c),
        *(col.label(f"p_{col.name}") for col in p.c),
    ]


def _members(rows: list[Any]) -> list[tuple[Account, Program]]:
    return [
        (account_from_row(_Prefixed(r, "a_")), program_from_row(_Prefixed(r, "p_")))
        for r in rows
        if r.a_account_id is not None
    ]


async def customer_members(
    conn: AsyncConnection, customer_id: str
) -> tuple[bool, list[tuple[Account, Program]]]:
    """(does the customer exist, its accounts with their programs), in one query."""
    a, p, c = lt.loyalty_accounts, lt.loyalty_programs, lt.loyalty_customers
    rows = list(
        await conn.execute(
            sa.select(c.c.customer_id, *_member_columns())
            .select_from(
                c.outerjoin(a, a.c.customer_id == c.c.customer_id).outerjoin(
                    p, p.c.program_id == a.c.program_id
                )
            )
            .where(c.c.customer_id == customer_id)
            .order_by(a.c.id)
        )
    )
    return bool(rows), _members(rows)


async def account_member(conn: AsyncConnection, account_id: str) -> tuple[Account, Program]:
    a, p = lt.loyalty_accounts, lt.loyalty_programs
    rows = list(
        await conn.execute(
            sa.select(*_member_columns())
            .select_from(a.join(p, p.c.program_id == a.c.program_id))
            .where(a.c.account_id == account_id)
        )
    )
    if not rows:
        raise le.UnknownObject(
            f"loyalty account {account_id} not found", details={"account": account_id}
        )
    return _members(rows)[0]
