"""Refunds: full or partial, up to the amount charged; proportional clawback of the points the
payment earned, and (per program) proportional restore of the points it redeemed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.ids import new_id
from tally.core.ledger.records import TransactionRecord
from tally.core.loyalty import errors as le
from tally.core.loyalty.clawback import ClawbackPlan, plan_clawback, proportional
from tally.core.loyalty.records import (
    Account,
    LotState,
    Payment,
    PaymentStatus,
    PointsTx,
    Program,
    PtxType,
    Refund,
)
from tally.core.loyalty.views import payment_view, ptx_view, refund_view
from tally.services import Services

from . import ledger_repo
from . import loyalty_repo as repo
from . import tables_loyalty as lt
from .engine import Post, Step
from .loyalty_posting import (
    add_lot,
    guarded_update,
    points_plan,
    retrying,
    run_steps,
    take_from_lots,
)
from .outbox import emit

PAY = lt.payments.c
LOT = lt.points_lots.c


@dataclass(slots=True)
class RefundPlan:
    payment: Payment
    refund: Refund
    clawback: ClawbackPlan
    member: tuple[Account, Program] | None
    pending_lot: str | None
    restore: int
    restore_to: tuple[Account, Program] | None
    steps: list[Step]


def _amount(body: dict[str, Any], payment: Payment, refunded_before: bool) -> int:
    left = payment.amount_charged - payment.amount_refunded
    raw = body.get("amount")
    if raw is None:
        if left > 0 or (payment.amount_charged == 0 and not refunded_before):
            return left
        raise le.RefundExceedsCharge(f"payment {payment.payment_id} is refunded in full already")
    if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
        raise le.LoyaltyInvalid(
            f"amount must be a whole number of minor units greater than zero; got {raw!r}",
            details={"field": "amount"},
        )
    if raw > left:
        raise le.RefundExceedsCharge(
            f"refund of {raw} is more than the {left} left to refund of the "
            f"{payment.amount_charged} charged on payment {payment.payment_id}",
            details={"requested": raw, "refundable": left},
        )
    return raw


async def _member(conn: AsyncConnection, account_id: str | None) -> tuple[Account, Program] | None:
    if account_id is None:
        return None
    account = await repo.get_account(conn, account_id)
    return account, await repo.get_program(conn, account.program_id)


async def _plan(conn: AsyncConnection, body: dict[str, Any], now: datetime) -> RefundPlan:
    payment_id = body.get("payment")
    if not isinstance(payment_id, str) or not payment_id:
        raise le.LoyaltyInvalid("payment: cannot be blank (a pay_ id)")
    payment = await repo.get_payment(conn, payment_id, body=True)
    if payment.status != PaymentStatus.COMPLETED:
        raise le.PaymentStateConflict(
            f"payment {payment_id} is {payment.status}; only a completed payment can be refunded"
        )
    before = (
        await conn.execute(
            sa.select(sa.func.count())
            .select_from(lt.refunds)
            .where(lt.refunds.c.payment_id == payment_id)
        )
    ).scalar_one()
    amount = _amount(body, payment, before > 0)
    reason = body.get("reason") or ""
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict) or not isinstance(reason, str):
        raise le.LoyaltyInvalid("metadata must be an object and reason text")
    refund = Refund(
        new_id("re"),
        payment_id,
        amount,
        payment.currency,
        now,
        reason=reason,
        metadata=dict(metadata),
    )
    charged, done = payment.amount_charged, payment.amount_refunded
    member = await _member(conn, payment.account_id) if payment.points_earned else None
    restore, restore_to = 0, None
    redemptions = await repo.payment_redemptions(conn, payment_id)
    if redemptions and payment.points_redeemed:
        restore_to = await _member(conn, redemptions[0].account_id)
        if restore_to and restore_to[1].config.redeemed_points_on_refund == "restore":
            restore = proportional(payment.points_redeemed, charged, done, amount)
    due = proportional(payment.points_earned, charged, done, amount) if member else 0
    pending_left, pending_lot, available = 0, None, 0
    if member is not None and due:
        lot = (
            await conn.execute(
                sa.select(LOT.lot_id, LOT.remaining)
                .where(LOT.payment_id == payment_id)
                .where(LOT.state == LotState.PENDING)
            )
        ).first()
        if lot is not None:
            pending_left, pending_lot = int(lot.remaining), lot.lot_id
        balance = await ledger_repo.get_balance(conn, member[0].balance_id)
        available = balance.balance - balance.inflight_debit_balance
        if restore and restore_to and restore_to[0].account_id == member[0].account_id:
            available += restore
    allow = member[1].config.allow_negative if member else True
    claw = plan_clawback(due, pending_left=pending_left, available=available, allow_negative=allow)
    refund.points_due, refund.points_clawed_back = due, claw.points
    refund.points_restored = restore
    plan = RefundPlan(payment, refund, claw, member, pending_lot, restore, restore_to, [])
    plan.steps = _steps(plan, now)
    return plan


def _steps(plan: RefundPlan, now: datetime) -> list[Step]:
    steps: list[Step] = []
    rid = plan.refund.refund_id
    if plan.restore and plan.restore_to:
        account, program = plan.restore_to
        steps.append(
            Post(
                points_plan(
                    program,
                    reference=f"restore:{rid}",
                    source=program.redemption_balance_id,
                    destination=account.balance_id,
                    points=plan.restore,
                    now=now,
                    description=f"redeemed points restored by refund {rid}",
                    meta_data={"refund": rid, "payment": plan.payment.payment_id},
                )
            )
        )
    if plan.member is None:
        return steps
    account, program = plan.member
    meta = {"refund": rid, "payment": plan.payment.payment_id}
    if plan.clawback.from_pending:
        steps.append(
            Post(
                points_plan(
                    program,
                    reference=f"clawback-pending:{rid}",
                    source=program.pending_balance_id,
                    destination=program.issuing_balance_id,
                    points=plan.clawback.from_pending,
                    now=now,
                    description=f"pending points clawed back by refund {rid}",
                    meta_data=meta,
                )
            )
        )
    if plan.clawback.from_account:
        steps.append(
            Post(
                points_plan(
                    program,
                    reference=f"clawback:{rid}",
                    source=account.balance_id,
                    destination=program.issuing_balance_id,
                    points=plan.clawback.from_account,
                    now=now,
                    description=f"points clawed back by refund {rid}",
                    allow_overdraft=program.config.allow_negative,
                    meta_data=meta,
                )
            )
        )
    return steps


async def _write(
    conn: AsyncConnection, plan: RefundPlan, records: list[TransactionRecord], now: datetime
) -> None:
    payment, refund, claw = plan.payment, plan.refund, plan.clawback
    by_ref = {r.reference.split(":", 1)[0]: r for r in records}
    await guarded_update(
        conn,
        lt.payments.update()
        .where(PAY.payment_id == payment.payment_id)
        .where(PAY.amount_refunded == payment.amount_refunded)
        .values(
            amount_refunded=payment.amount_refunded + refund.amount,
            points_clawed_back=payment.points_clawed_back + claw.points,
            points_restored=payment.points_restored + plan.restore,
        ),
        f"payment {payment.payment_id}",
    )
    payment.amount_refunded += refund.amount
    payment.points_clawed_back += claw.points
    payment.points_restored += plan.restore
    await conn.execute(lt.refunds.insert().values(**repo.refund_row(refund)))
    ptxs: list[tuple[str, PointsTx]] = []
    if plan.restore and plan.restore_to:
        ptxs.append(("loyalty.points.restored", await _restore(conn, plan, by_ref["restore"], now)))
    if claw.points and plan.member:
        ptxs.append(("loyalty.points.clawed_back", await _clawback(conn, plan, by_ref, now)))
    await emit(
        conn,
        "payment.refunded",
        {**refund_view(refund), "payment_object": payment_view(payment)},
        now=now,
        subject_id=refund.refund_id,
    )
    for event, ptx in ptxs:
        await emit(conn, event, ptx_view(ptx), now=now, subject_id=ptx.ptx_id)


async def _restore(
    conn: AsyncConnection, plan: RefundPlan, record: TransactionRecord, now: datetime
) -> PointsTx:
    assert plan.restore_to is not None
    account, program = plan.restore_to
    ptx = PointsTx(
        new_id("ptx"),
        account.account_id,
        program.program_id,
        plan.restore,
        PtxType.RESTORE,
        now,
        record.transaction_id,
        payment_id=plan.payment.payment_id,
        refund_id=plan.refund.refund_id,
        amount=plan.refund.amount,
        currency=plan.refund.currency,
    )
    await repo.insert_ptx(conn, [ptx])
    await add_lot(
        conn,
        program=program,
        account_id=account.account_id,
        ptx_id=ptx.ptx_id,
        points=plan.restore,
        now=now,
        payment_id=None,
    )
    return ptx


async def _clawback(
    conn: AsyncConnection, plan: RefundPlan, by_ref: dict[str, TransactionRecord], now: datetime
) -> PointsTx:
    assert plan.member is not None
    account, program = plan.member
    claw = plan.clawback
    if claw.from_pending and plan.pending_lot:
        await guarded_update(
            conn,
            lt.points_lots.update()
            .where(LOT.lot_id == plan.pending_lot)
            .where(LOT.state == LotState.PENDING)
            .where(LOT.remaining >= claw.from_pending)
            .values(remaining=LOT.remaining - claw.from_pending),
            f"lot {plan.pending_lot}",
        )
    if claw.from_account:
        await take_from_lots(
            conn, account.account_id, claw.from_account, into_deficit=program.config.allow_negative
        )
    txns = [by_ref[k].transaction_id for k in ("clawback", "clawback-pending") if k in by_ref]
    ptx = PointsTx(
        new_id("ptx"),
        account.account_id,
        program.program_id,
        -claw.points,
        PtxType.CLAWBACK,
        now,
        txns[0],
        payment_id=plan.payment.payment_id,
        refund_id=plan.refund.refund_id,
        amount=plan.refund.amount,
        currency=plan.refund.currency,
        details={
            "points_due": claw.due,
            "points_capped": claw.capped,
            "from_pending": claw.from_pending,
            "ledger_transactions": txns,
        },
    )
    await repo.insert_ptx(conn, [ptx])
    return ptx


async def create_refund(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    async def attempt() -> Refund:
        now = services.clock.now()
        async with services.db.read() as conn:
            plan = await _plan(conn, body, now)

        async def write(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
            await _write(conn, plan, records, now)

        await run_steps(services, plan.steps, write)
        return plan.refund

    return refund_view(await retrying(attempt))


async def get_refund(services: Services, refund_id: str) -> dict[str, Any]:
    async with services.db.read() as conn:
        return refund_view(await repo.get_refund(conn, refund_id))


async def list_refunds(
    services: Services, *, payment: str | None, limit: int, starting_after: str | None
) -> dict[str, Any]:
    query = sa.select(lt.refunds)
    if payment:
        query = query.where(lt.refunds.c.payment_id == payment)
    async with services.db.read() as conn:
        rows, more = await repo.page(
            conn, query, lt.refunds, "refund_id", limit=limit, starting_after=starting_after
        )
    return repo.listing([refund_view(repo.refund_from_row(r)) for r in rows], more, "/refunds")
