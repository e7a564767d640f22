"""The explicit award replay of seed 002: a member linked after a payment completed earns then.

Idempotent: a payment that already earned answers as it is; the earn's ledger reference
(``earn:<payment>``) makes a replay racing another one a duplicate, answered the same way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.errors import DuplicateReference
from tally.core.ledger.records import TransactionRecord
from tally.core.loyalty import errors as le
from tally.core.loyalty.records import Payment, PaymentStatus
from tally.core.loyalty.rules import Purchase
from tally.core.loyalty.views import payment_view
from tally.services import Services

from . import loyalty_repo as repo
from . import tables_loyalty as lt
from .loyalty_earning import (
    check_earn_posted,
    finish_earn,
    plan_earn,
    resolve_member,
    write_earn,
)
from .loyalty_payments import PAY, get_payment, record_member
from .loyalty_posting import guarded_update, retrying, run_steps
from .loyalty_writes import WriteSet


async def award_payment(services: Services, payment_id: str) -> dict[str, Any]:
    """Replay the award for a member linked after completion; idempotent."""

    async def attempt() -> Payment:
        now = services.clock.now()
        async with services.db.read() as conn:
            payment = await repo.get_payment(conn, payment_id)
            if payment.status != PaymentStatus.COMPLETED:
                raise le.AwardRefused(
                    f"payment {payment_id} is {payment.status}; only a "
                    "completed payment earns points"
                )
            if payment.points_earned > 0:
                return payment
            if payment.amount_refunded > 0:
                raise le.AwardRefused(
                    f"payment {payment_id} has been refunded; points are not awarded after a refund"
                )
            member = await resolve_member(
                conn,
                customer_id=payment.customer_id,
                metadata=payment.metadata,
                program_id=payment.program_id,
            )
            if member is None:
                raise le.MemberUnresolved(
                    f"payment {payment_id} has no loyalty member: link its customer to an "
                    "account, then replay the award"
                )
            at = payment.completed_at or now
            purchase = Purchase(payment.amount_charged, payment.currency, payment.metadata, at)
            plan = await plan_earn(conn, member, purchase, payment_id=payment_id, now=now)

        async def write(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
            record_member(payment, member, plan.result.points)
            await guarded_update(
                conn,
                lt.payments.update()
                .where(PAY.payment_id == payment_id)
                .where(PAY.points_earned == 0)
                .where(PAY.amount_refunded == 0)
                .values(
                    account_id=payment.account_id,
                    program_id=payment.program_id,
                    points_earned=payment.points_earned,
                ),
                f"payment {payment_id}",
            )
            check_earn_posted(plan, records)
            out = WriteSet()
            write_earn(out, plan, payment, now=now)
            out.event("payment.awarded", payment_view(payment), now=now, subject_id=payment_id)
            await out.flush(conn)
            await finish_earn(conn, plan)

        await run_steps(services, [plan.step] if plan.step else [], write)
        return payment

    try:
        return payment_view(await retrying(attempt))
    except DuplicateReference:
        return await get_payment(services, payment_id)
