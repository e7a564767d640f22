"""Payments linked to loyalty: create, complete (commit redemptions + earn, in one ledger
operation) and fail (release redemptions). The award replay of seed 002 is ``loyalty_award``.

A new payment without redemptions (the hot path: ``POST /payments`` with ``status: completed``)
resolves its member through the process's shared reads (``loyalty_lookup``) and builds all its
rows before the posting; the engine's batch only queues them (``loyalty_writes``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.errors import AlreadyCommitted, AlreadyVoided, DuplicateReference
from tally.core.ids import new_id
from tally.core.ledger.records import TransactionRecord
from tally.core.loyalty import errors as le
from tally.core.loyalty.records import Payment, PaymentStatus, Redemption
from tally.core.loyalty.rules import Purchase
from tally.core.loyalty.views import payment_view
from tally.services import Services

from . import loyalty_repo as repo
from . import tables_loyalty as lt
from .engine import Commit, Step, Void
from .loyalty_earning import (
    EarnPlan,
    Member,
    check_earn_posted,
    find_member,
    finish_earn,
    plan_earn,
    plan_earn_for,
    resolve_member,
    write_earn,
)
from .loyalty_posting import guarded_update, retrying, run_steps
from .loyalty_programs import currency_code
from .loyalty_redemptions import check_held, write_commit, write_release
from .loyalty_writes import WriteSet
from .outbox import emit

PAY = lt.payments.c


@dataclass(slots=True)
class Completion:
    payment: Payment
    redemptions: list[Redemption]
    earn: EarnPlan | None
    steps: list[Step] = field(default_factory=list)


def _parse_payment(body: dict[str, Any], now: datetime) -> tuple[Payment, list[str], str]:
    amount = body.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise le.LoyaltyInvalid(
            f"amount must be a whole number of minor units greater than zero; got {amount!r}",
            details={"field": "amount"},
        )
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise le.LoyaltyInvalid("metadata must be an object")
    redemptions = body.get("redemptions") or []
    if not isinstance(redemptions, list) or not all(isinstance(r, str) for r in redemptions):
        raise le.LoyaltyInvalid("redemptions must be a list of rdm_ ids")
    if len(set(redemptions)) != len(redemptions):
        raise le.LoyaltyInvalid("redemptions: the same redemption is listed twice")
    status = body.get("status") or PaymentStatus.PENDING
    if status not in (PaymentStatus.PENDING, PaymentStatus.COMPLETED):
        raise le.LoyaltyInvalid('status must be "pending" or "completed"')
    customer = body.get("customer") or None
    program = body.get("program") or None
    if customer is not None and not isinstance(customer, str):
        raise le.LoyaltyInvalid("customer must be a cust_ id")
    description = body.get("description") or ""
    payment = Payment(
        payment_id=new_id("pay"),
        amount=amount,
        currency=currency_code(body.get("currency")),
        status=PaymentStatus.PENDING,
        created_at=now,
        customer_id=customer,
        program_id=str(program) if program else None,
        description=str(description),
        metadata=dict(metadata),
    )
    return payment, list(redemptions), status


async def _attachable(
    conn: AsyncConnection, payment: Payment, ids: list[str], now: datetime
) -> list[Redemption]:
    found = [await repo.get_redemption(conn, rid, body=True) for rid in ids]
    for rdm in found:
        check_held(rdm, now)
        if rdm.payment_id is not None:
            raise le.RedemptionAttached(
                f"redemption {rdm.redemption_id} is attached to payment {rdm.payment_id}"
            )
        if rdm.currency != payment.currency:
            raise le.PaymentCurrencyMismatch(
                f"redemption {rdm.redemption_id} is a discount in {rdm.currency}; the payment is "
                f"in {payment.currency}"
            )
    accounts = {r.account_id for r in found}
    if len(accounts) > 1:
        raise le.LoyaltyInvalid("all redemptions on a payment must come from the same account")
    member = await resolve_member(
        conn,
        customer_id=payment.customer_id,
        metadata=payment.metadata,
        program_id=payment.program_id,
    )
    if found and member is not None and member.account.account_id not in accounts:
        raise le.ProgramMismatch(
            f"the redemptions belong to account {found[0].account_id}; this payment's member "
            f"is {member.account.account_id}"
        )
    return found


async def create_payment(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    now = services.clock.now()
    payment, ids, status = _parse_payment(body, now)
    redemptions: list[Redemption] = []
    if ids or status != PaymentStatus.COMPLETED or payment.program_id:
        async with services.db.read() as conn:
            if payment.program_id:
                await repo.get_program(conn, payment.program_id, body=True)
            redemptions = await _attachable(conn, payment, ids, now)
    payment.amount_discount = min(sum(r.discount_amount for r in redemptions), payment.amount)
    payment.redemptions = ids
    if status == PaymentStatus.COMPLETED:
        done = await _complete(services, payment, new=True)
        return payment_view(done)

    async def write(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
        await conn.execute(lt.payments.insert().values(**repo.payment_row(payment)))
        await _attach(conn, payment, redemptions)
        await emit(
            conn, "payment.created", payment_view(payment), now=now, subject_id=payment.payment_id
        )

    await retrying(lambda: run_steps(services, [], write))
    return payment_view(payment)


async def _attach(conn: AsyncConnection, payment: Payment, redemptions: list[Redemption]) -> None:
    c = lt.loyalty_redemptions.c
    for rdm in redemptions:
        result = await conn.execute(
            lt.loyalty_redemptions.update()
            .where(c.redemption_id == rdm.redemption_id)
            .where(c.state == "held")
            .where(c.payment_id.is_(None))
            .values(payment_id=payment.payment_id)
        )
        if result.rowcount != 1:
            raise le.RedemptionAttached(
                f"redemption {rdm.redemption_id} was used or released meanwhile"
            )
        rdm.payment_id = payment.payment_id


async def _plan_completion(
    conn: AsyncConnection, payment: Payment, redemptions: list[Redemption], now: datetime
) -> Completion:
    for rdm in redemptions:
        check_held(rdm, now)
    member = await resolve_member(
        conn,
        customer_id=payment.customer_id,
        metadata=payment.metadata,
        program_id=payment.program_id,
    )
    plan = None
    if member is not None:
        purchase = Purchase(payment.amount_charged, payment.currency, payment.metadata, now)
        plan = await plan_earn(conn, member, purchase, payment_id=payment.payment_id, now=now)
    steps: list[Step] = [Commit(r.hold_transaction_id) for r in redemptions]
    if plan is not None and plan.step is not None:
        steps.append(plan.step)
    return Completion(payment, redemptions, plan, steps)


async def _plan_earn_only(services: Services, payment: Payment, now: datetime) -> Completion:
    """A new payment without redemptions: its member from the shared reads, then its earn."""
    member = await find_member(
        services,
        customer_id=payment.customer_id,
        metadata=payment.metadata,
        program_id=payment.program_id,
    )
    plan = None
    if member is not None:
        purchase = Purchase(payment.amount_charged, payment.currency, payment.metadata, now)
        plan = await plan_earn_for(
            services, member, purchase, payment_id=payment.payment_id, now=now
        )
    steps: list[Step] = [plan.step] if plan is not None and plan.step is not None else []
    return Completion(payment, [], plan, steps)


def record_member(payment: Payment, member: Member | None, earned: int) -> None:
    if member is not None:
        payment.account_id = member.account.account_id
        payment.program_id = member.program.program_id
    payment.points_earned = earned


def _completion_rows(done: Completion, *, new: bool, now: datetime) -> WriteSet:
    """The completed payment's rows, built before the posting (nothing here needs its lock)."""
    payment = done.payment
    member = done.earn.member if done.earn else None
    record_member(payment, member, done.earn.result.points if done.earn else 0)
    payment.status, payment.completed_at = PaymentStatus.COMPLETED, now
    payment.points_redeemed = sum(r.points for r in done.redemptions)
    out = WriteSet()
    if new:
        out.insert(lt.payments, repo.payment_row(payment))
    else:
        out.guard(
            lt.payments,
            {"payment_id": payment.payment_id},
            {"status": PaymentStatus.PENDING},
            {
                "status": payment.status,
                "completed_at": now,
                "account_id": payment.account_id,
                "program_id": payment.program_id,
                "points_earned": payment.points_earned,
                "points_redeemed": payment.points_redeemed,
            },
            f"payment {payment.payment_id}",
        )
    out.event("payment.completed", payment_view(payment), now=now, subject_id=payment.payment_id)
    if done.earn is not None:
        write_earn(out, done.earn, payment, now=now)
    return out


async def _write_completion(
    conn: AsyncConnection,
    done: Completion,
    out: WriteSet,
    records: list[TransactionRecord],
    *,
    new: bool,
    now: datetime,
) -> None:
    if done.earn is not None:
        check_earn_posted(done.earn, records)
    # A payment with redemptions writes in order (its redemption rows and events follow the
    # payment's); a plain earn is queued for the batch's one statement.
    await out.flush(conn, at_once=bool(done.redemptions))
    payment = done.payment
    if new:
        await _attach(conn, payment, done.redemptions)
    by_hold = {r.parent_transaction: r for r in records if r.parent_transaction}
    for rdm in done.redemptions:
        await write_commit(conn, rdm, by_hold[rdm.hold_transaction_id], payment.payment_id, now)
    if done.earn is not None:
        await finish_earn(conn, done.earn)


def _queues_only(done: Completion) -> bool:
    """Whether ``_write_completion`` only queues rows: no redemption to attach or commit (their
    rows are written in order, at once) and no cap usage counter to bump (read, then written)."""
    if done.redemptions:
        return False
    earn = done.earn
    return earn is None or earn.step is None or not earn.result.usage


async def _complete(services: Services, payment: Payment, *, new: bool) -> Payment:
    async def attempt() -> Payment:
        now = services.clock.now()
        if new and not payment.redemptions:
            done = await _plan_earn_only(services, replace(payment), now)
        else:
            async with services.db.read() as conn:
                current = (
                    replace(payment) if new else await repo.get_payment(conn, payment.payment_id)
                )
                if current.status != PaymentStatus.PENDING:
                    return current
                ids = current.redemptions
                redemptions = [await repo.get_redemption(conn, rid) for rid in ids]
                done = await _plan_completion(conn, current, redemptions, now)

        out = _completion_rows(done, new=new, now=now)

        async def write(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
            await _write_completion(conn, done, out, records, new=new, now=now)

        await run_steps(services, done.steps, write, queues_only=_queues_only(done))
        return done.payment

    try:
        return await retrying(attempt)
    except DuplicateReference:
        if new:
            raise
    except (AlreadyVoided, AlreadyCommitted):
        raise le.RedemptionExpired(
            "a redemption on this payment was released (cancelled or timed out) while it was "
            "being completed; create a new redemption and payment"
        ) from None
    async with services.db.read() as conn:
        return await repo.get_payment(conn, payment.payment_id)


async def complete_payment(services: Services, payment_id: str) -> dict[str, Any]:
    async with services.db.read() as conn:
        payment = await repo.get_payment(conn, payment_id)
    if payment.status == PaymentStatus.FAILED:
        raise le.PaymentStateConflict(f"payment {payment_id} failed; it cannot be completed")
    return payment_view(await _complete(services, payment, new=False))


async def fail_payment(services: Services, payment_id: str, reason: str) -> dict[str, Any]:
    async def attempt() -> Payment:
        now = services.clock.now()
        async with services.db.read() as conn:
            payment = await repo.get_payment(conn, payment_id)
            if payment.status == PaymentStatus.COMPLETED:
                raise le.PaymentStateConflict(
                    f"payment {payment_id} is completed; refund it instead of failing it"
                )
            if payment.status == PaymentStatus.FAILED:
                return payment
            held = [
                r for r in await repo.payment_redemptions(conn, payment_id) if r.state == "held"
            ]

        async def write(conn: AsyncConnection, records: list[TransactionRecord]) -> None:
            await guarded_update(
                conn,
                lt.payments.update()
                .where(PAY.payment_id == payment_id)
                .where(PAY.status == PaymentStatus.PENDING)
                .values(status=PaymentStatus.FAILED, failed_at=now, failure_reason=reason),
                f"payment {payment_id}",
            )
            by_hold = {r.parent_transaction: r for r in records}
            for rdm in held:
                await write_release(
                    conn, rdm, by_hold[rdm.hold_transaction_id], "payment_failed", now
                )
            payment.status, payment.failed_at, payment.failure_reason = (
                PaymentStatus.FAILED,
                now,
                reason,
            )
            await emit(
                conn, "payment.failed", payment_view(payment), now=now, subject_id=payment_id
            )

        await run_steps(services, [Void(r.hold_transaction_id) for r in held], write)
        return payment

    return payment_view(await retrying(attempt))


async def get_payment(services: Services, payment_id: str) -> dict[str, Any]:
    async with services.db.read() as conn:
        return payment_view(await repo.get_payment(conn, payment_id))
