"""Points transactions listing and the per-payment reconciliation of seed 002."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.clock import parse_timestamp
from tally.core.loyalty import errors as le
from tally.core.loyalty.records import Payment, PaymentStatus, PointsTx, PtxType
from tally.core.loyalty.views import ptx_view
from tally.services import Services

from . import loyalty_repo as repo
from . import tables as t
from . import tables_loyalty as lt
from .loyalty_earning import resolve_member

PTX = lt.points_transactions.c
PAY = lt.payments.c


def parse_when(value: str | None, field: str) -> datetime | None:
    """Unix seconds (as seed 002 sends them) or an RFC 3339 timestamp."""
    if value in (None, ""):
        return None
    assert value is not None
    if value.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(value), UTC)
    try:
        return parse_timestamp(value)
    except ValueError:
        raise le.LoyaltyInvalid(
            f"{field} must be Unix seconds or an RFC 3339 timestamp; got {value!r}"
        ) from None


async def list_transactions(
    services: Services,
    *,
    account: str | None,
    program: str | None,
    payment: str | None,
    type: str | None,
    gte: str | None,
    lte: str | None,
    limit: int,
    starting_after: str | None,
) -> dict[str, Any]:
    query = sa.select(lt.points_transactions)
    if type is not None and type not in PtxType.ALL:
        raise le.LoyaltyInvalid(f"type must be one of {', '.join(PtxType.ALL)}; got {type!r}")
    for column, value in (
        (PTX.account_id, account),
        (PTX.program_id, program),
        (PTX.payment_id, payment),
        (PTX.type, type),
    ):
        if value:
            query = query.where(column == value)
    since, until = parse_when(gte, "created[gte]"), parse_when(lte, "created[lte]")
    if since is not None:
        query = query.where(PTX.created_at >= since)
    if until is not None:
        query = query.where(PTX.created_at <= until)
    async with services.db.read() as conn:
        if account:
            await repo.get_account(conn, account, body=True)
        rows, more = await repo.page(
            conn,
            query,
            lt.points_transactions,
            "ptx_id",
            limit=limit,
            starting_after=starting_after,
        )
    items = [ptx_view(repo.ptx_from_row(r)) for r in rows]
    return repo.listing(items, more, "/loyalty/transactions")


async def _ledger_amounts(conn: AsyncConnection, ids: list[str]) -> dict[str, int]:
    if not ids:
        return {}
    rows = await conn.execute(
        sa.select(t.transactions.c.transaction_id, t.transactions.c.precise_amount).where(
            t.transactions.c.transaction_id.in_(ids)
        )
    )
    return {r.transaction_id: int(r.precise_amount) for r in rows}


async def _flags(
    conn: AsyncConnection,
    payment: Payment,
    ptxs: list[PointsTx],
    refund_ids: set[str],
    ledger: dict[str, int],
) -> list[str]:
    flags: list[str] = []
    earned = sum(x.points for x in ptxs if x.type == PtxType.EARN)
    clawed = -sum(x.points for x in ptxs if x.type == PtxType.CLAWBACK)
    if earned and payment.status != PaymentStatus.COMPLETED:
        flags.append("earn_on_incomplete_payment")
    if earned != payment.points_earned:
        flags.append("earn_mismatch")
    if clawed > earned:
        flags.append("clawback_exceeds_earn")
    if clawed != payment.points_clawed_back:
        flags.append("clawback_mismatch")
    if any(x.type == PtxType.CLAWBACK and x.refund_id not in refund_ids for x in ptxs):
        flags.append("clawback_without_refund")
    for x in ptxs:
        if x.type == PtxType.EARN and ledger.get(x.ledger_transaction or "") != x.points:
            flags.append("ledger_mismatch")
            break
    if payment.status == PaymentStatus.COMPLETED and not earned and payment.account_id is None:
        member = await resolve_member(
            conn,
            customer_id=payment.customer_id,
            metadata=payment.metadata,
            program_id=payment.program_id,
        )
        if member is not None:
            flags.append("linked_without_earn")
    return flags


async def reconciliation(
    services: Services,
    *,
    program: str | None,
    account: str | None,
    gte: str | None,
    lte: str | None,
    anomalies_only: bool,
    limit: int,
    starting_after: str | None,
) -> dict[str, Any]:
    query = sa.select(lt.payments)
    if program:
        query = query.where(PAY.program_id == program)
    if account:
        query = query.where(PAY.account_id == account)
    since, until = parse_when(gte, "created[gte]"), parse_when(lte, "created[lte]")
    if since is not None:
        query = query.where(PAY.created_at >= since)
    if until is not None:
        query = query.where(PAY.created_at <= until)
    async with services.db.read() as conn:
        rows, more = await repo.page(
            conn, query, lt.payments, "payment_id", limit=limit, starting_after=starting_after
        )
        ids = [r.payment_id for r in rows]
        by_payment: dict[str, list[PointsTx]] = defaultdict(list)
        refunds: dict[str, set[str]] = defaultdict(set)
        if ids:
            for r in await conn.execute(
                sa.select(lt.points_transactions).where(PTX.payment_id.in_(ids))
            ):
                by_payment[r.payment_id].append(repo.ptx_from_row(r))
            for r in await conn.execute(
                sa.select(lt.refunds.c.payment_id, lt.refunds.c.refund_id).where(
                    lt.refunds.c.payment_id.in_(ids)
                )
            ):
                refunds[r.payment_id].add(r.refund_id)
        ledger = await _ledger_amounts(
            conn,
            sorted(
                {
                    x.ledger_transaction
                    for xs in by_payment.values()
                    for x in xs
                    if x.ledger_transaction
                }
            ),
        )
        items = []
        for row in rows:
            payment = repo.payment_from_row(row, [])
            ptxs = by_payment[payment.payment_id]
            flags = await _flags(conn, payment, ptxs, refunds[payment.payment_id], ledger)
            if anomalies_only and not flags:
                continue
            items.append(_line(payment, ptxs, flags))
    totals = {k: sum(i[k] for i in items) for k in ("earned", "clawed_back", "net_earned")}
    return {**repo.listing(items, more, "/loyalty/reconciliation"), "totals": totals}


def _line(payment: Payment, ptxs: list[PointsTx], flags: list[str]) -> dict[str, Any]:
    earned = sum(x.points for x in ptxs if x.type == PtxType.EARN)
    clawed = -sum(x.points for x in ptxs if x.type == PtxType.CLAWBACK)
    return {
        "payment": payment.payment_id,
        "status": payment.status,
        "account": payment.account_id,
        "customer": payment.customer_id,
        "currency": payment.currency,
        "amount_charged": payment.amount_charged,
        "amount_refunded": payment.amount_refunded,
        "earned": earned,
        "clawed_back": clawed,
        "net_earned": earned - clawed,
        "points_transactions": [x.ptx_id for x in ptxs],
        "flags": flags,
    }
