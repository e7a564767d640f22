"""Earning: who the member of a payment is, what the rules give, and writing the earn.

Member resolution follows seed 002: the payment's customer's linked account first (the one in
``program`` when the customer is in several programs), then ``metadata.loyalty_account``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.ids import new_id
from tally.core.ledger.records import TransactionRecord
from tally.core.loyalty import errors as le
from tally.core.loyalty.lots import pay_deficit
from tally.core.loyalty.records import Account, Payment, PointsTx, Program, PtxType
from tally.core.loyalty.rules import EarnResult, Purchase, UsageKey, evaluate, usage_keys
from tally.core.loyalty.views import ptx_view

from . import loyalty_repo as repo
from . import tables_loyalty as lt
from .engine import Post
from .loyalty_lookup import MemberReads
from .loyalty_posting import guarded_update, lot_row, points_plan, queue_lot_jobs
from .loyalty_writes import WriteSet

if TYPE_CHECKING:
    from tally.services import Services


@dataclass(slots=True)
class Member:
    account: Account
    program: Program


@dataclass(slots=True)
class EarnPlan:
    member: Member
    result: EarnResult
    seen: dict[UsageKey, int]
    step: Post | None
    pending_until: datetime | None


CustomerRead = Callable[[str], Awaitable[tuple[bool, list[tuple[Account, Program]]]]]
AccountRead = Callable[[str], Awaitable[tuple[Account, Program]]]


async def resolve_member(
    conn: AsyncConnection,
    *,
    customer_id: str | None,
    metadata: dict[str, Any],
    program_id: str | None,
) -> Member | None:
    """The payment's member, read on ``conn``."""

    async def customer(key: str) -> tuple[bool, list[tuple[Account, Program]]]:
        return await repo.customer_members(conn, key)

    async def account(key: str) -> tuple[Account, Program]:
        return await repo.account_member(conn, key)

    return await _resolve(customer, account, customer_id, metadata, program_id)


async def find_member(
    services: Services,
    *,
    customer_id: str | None,
    metadata: dict[str, Any],
    program_id: str | None,
) -> Member | None:
    """The payment's member, through the process's shared member reads (``loyalty_lookup``)."""
    reads = MemberReads.of(services)

    async def account(key: str) -> tuple[Account, Program]:
        found = await reads.account(key)
        if found is None:
            raise le.UnknownObject(f"loyalty account {key} not found", details={"account": key})
        return found

    return await _resolve(reads.customer, account, customer_id, metadata, program_id)


async def _resolve(
    customer: CustomerRead,
    account: AccountRead,
    customer_id: str | None,
    metadata: dict[str, Any],
    program_id: str | None,
) -> Member | None:
    found: tuple[Account, Program] | None = None
    if customer_id:
        exists, members = await customer(customer_id)
        if not exists:
            raise le.UnknownObject(
                f"customer {customer_id} not found", details={"customer": customer_id}
            )
        if program_id:
            members = [m for m in members if m[0].program_id == program_id]
        if len(members) > 1:
            raise le.MemberAmbiguous(
                f"customer {customer_id} has accounts in {len(members)} programs; "
                "say which with `program`",
                details={"accounts": [a.account_id for a, _ in members]},
            )
        found = members[0] if members else None
    hinted = metadata.get("loyalty_account")
    if found is None and hinted:
        if not isinstance(hinted, str):
            raise le.LoyaltyInvalid("metadata.loyalty_account must be a loy_ id")
        found = await account(hinted)
        if program_id and found[0].program_id != program_id:
            raise le.ProgramMismatch(
                f"account {hinted} belongs to program {found[0].program_id}, not {program_id}"
            )
    return None if found is None else Member(*found)


async def read_usage(
    conn: AsyncConnection, account_id: str, keys: set[UsageKey]
) -> dict[UsageKey, int]:
    seen: dict[UsageKey, int] = {}
    c = lt.loyalty_earn_usage.c
    for scope, start in sorted(keys):
        row = (
            await conn.execute(
                sa.select(c.points)
                .where(c.account_id == account_id)
                .where(c.scope == scope)
                .where(c.period_start == start)
            )
        ).first()
        seen[(scope, start)] = 0 if row is None else int(row.points)
    return seen


async def plan_earn(
    conn: AsyncConnection, member: Member, purchase: Purchase, *, payment_id: str, now: datetime
) -> EarnPlan:
    keys = _usage_keys(member, purchase)
    seen = await read_usage(conn, member.account.account_id, keys) if keys else {}
    return _plan(member, purchase, seen, payment_id=payment_id, now=now)


async def plan_earn_for(
    services: Services, member: Member, purchase: Purchase, *, payment_id: str, now: datetime
) -> EarnPlan:
    """:func:`plan_earn` with a read of its own, only when the program caps earning."""
    seen: dict[UsageKey, int] = {}
    keys = _usage_keys(member, purchase)
    if keys:
        async with services.db.read() as conn:
            seen = await read_usage(conn, member.account.account_id, keys)
    return _plan(member, purchase, seen, payment_id=payment_id, now=now)


def _usage_keys(member: Member, purchase: Purchase) -> set[UsageKey]:
    config = member.program.config
    return usage_keys(config.earning_rules, config.cap_per_member, purchase.at)


def _plan(
    member: Member,
    purchase: Purchase,
    seen: dict[UsageKey, int],
    *,
    payment_id: str,
    now: datetime,
) -> EarnPlan:
    program, config = member.program, member.program.config
    result = evaluate(
        config.earning_rules,
        purchase,
        usage=seen,
        cap_per_payment=config.cap_per_payment,
        cap_per_member=config.cap_per_member,
    )
    pending_until = (
        now + timedelta(seconds=config.pending_seconds) if (config.pending_seconds) else None
    )
    step = None
    if result.points > 0:
        destination = program.pending_balance_id if pending_until else member.account.balance_id
        step = Post(
            points_plan(
                program,
                reference=f"earn:{payment_id}",
                source=program.issuing_balance_id,
                destination=destination,
                points=result.points,
                now=now,
                description=f"points earned on payment {payment_id}",
                meta_data={"payment": payment_id, "loyalty_account": member.account.account_id},
            )
        )
    return EarnPlan(member, result, seen, step, pending_until)


async def _bump_usage(conn: AsyncConnection, plan: EarnPlan) -> None:
    c = lt.loyalty_earn_usage.c
    account_id = plan.member.account.account_id
    for (scope, start), points in plan.result.usage.items():
        before = plan.seen.get((scope, start), 0)
        if before == 0:
            exists = (
                await conn.execute(
                    sa.select(c.points)
                    .where(c.account_id == account_id)
                    .where(c.scope == scope)
                    .where(c.period_start == start)
                )
            ).first()
            if exists is None:
                await conn.execute(
                    lt.loyalty_earn_usage.insert().values(
                        account_id=account_id, scope=scope, period_start=start, points=points
                    )
                )
                continue
        await guarded_update(
            conn,
            lt.loyalty_earn_usage.update()
            .where(c.account_id == account_id)
            .where(c.scope == scope)
            .where(c.period_start == start)
            .where(c.points == before)
            .values(points=before + points),
            "the member's earning caps",
        )


def earn_transaction_id(plan: EarnPlan) -> str | None:
    """The id the earn's ledger transaction is posted under (its plan's), None without one."""
    if plan.step is None:
        return None
    transfer = plan.step.plan
    return next(leg.transaction_id for leg in transfer.legs if leg.reference == transfer.reference)


def check_earn_posted(plan: EarnPlan, records: list[TransactionRecord]) -> None:
    """The rows built before the posting name the earn's ledger transaction: it must be there."""
    wanted = earn_transaction_id(plan)
    if wanted is not None and all(r.transaction_id != wanted for r in records):
        raise RuntimeError(f"the earn was not posted as {wanted}")


def write_earn(out: WriteSet, plan: EarnPlan, payment: Payment, *, now: datetime) -> None:
    """Queue the earn's ptx, lot (paying the planned deficit first), its due work and event.

    Built from the plan alone (the ledger transaction's id is the plan's), so a caller can build
    it before the posting and the engine's batch only queues it (``check_earn_posted``).
    """
    ledger_transaction = earn_transaction_id(plan)
    if ledger_transaction is None:
        return
    account = plan.member.account
    ptx = PointsTx(
        ptx_id=new_id("ptx"),
        account_id=account.account_id,
        program_id=plan.member.program.program_id,
        points=plan.result.points,
        type=PtxType.EARN,
        created_at=now,
        ledger_transaction=ledger_transaction,
        payment_id=payment.payment_id,
        amount=payment.amount_charged,
        currency=payment.currency,
        available_at=plan.pending_until or now,
        details={"rules": [o.view() for o in plan.result.outcomes if o.applied]},
    )
    remaining, deficit = ptx.points, account.deficit
    if plan.pending_until is None:
        remaining, deficit = pay_deficit(account.deficit, ptx.points)
    key, what = {"account_id": account.account_id}, f"account {account.account_id}"
    if deficit == account.deficit:
        out.check(lt.loyalty_accounts, key, {"deficit": account.deficit}, what)
    else:
        out.guard(
            lt.loyalty_accounts, key, {"deficit": account.deficit}, {"deficit": deficit}, what
        )
    out.insert(lt.points_transactions, repo.ptx_row(ptx))
    lot = lot_row(
        program=plan.member.program,
        account_id=account.account_id,
        ptx_id=ptx.ptx_id,
        points=ptx.points,
        remaining=remaining,
        now=now,
        payment_id=payment.payment_id,
        pending_until=plan.pending_until,
    )
    out.insert(lt.points_lots, lot)
    queue_lot_jobs(out, lot, now)
    out.event("loyalty.points.earned", ptx_view(ptx), now=now, subject_id=ptx.ptx_id)


async def finish_earn(conn: AsyncConnection, plan: EarnPlan) -> None:
    """What cannot be queued: the cap usage counters (read, then updated or inserted)."""
    if plan.step is not None and plan.result.usage:
        await _bump_usage(conn, plan)


async def simulate(
    conn: AsyncConnection, program: Program, body: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """What a payment would earn, rule by rule, without writing anything."""
    amount = body.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise le.LoyaltyInvalid("amount must be a whole number of minor units >= 0")
    currency = body.get("currency")
    if not isinstance(currency, str) or not currency:
        raise le.LoyaltyInvalid("currency: cannot be blank")
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise le.LoyaltyInvalid("metadata must be an object")
    at = now
    if body.get("at"):
        from tally.core.clock import parse_timestamp

        try:
            at = parse_timestamp(str(body["at"]))
        except ValueError:
            raise le.LoyaltyInvalid("at must be an RFC 3339 timestamp") from None
    purchase = Purchase(amount, currency.lower(), dict(metadata), at)
    config = program.config
    seen: dict[UsageKey, int] = {}
    account_id = body.get("account")
    if account_id:
        account = await repo.get_account(conn, str(account_id), body=True)
        if account.program_id != program.program_id:
            raise le.ProgramMismatch(f"account {account_id} is not in program {program.program_id}")
        keys = usage_keys(config.earning_rules, config.cap_per_member, at)
        seen = await read_usage(conn, account.account_id, keys)
    result = evaluate(
        config.earning_rules,
        purchase,
        usage=seen,
        cap_per_payment=config.cap_per_payment,
        cap_per_member=config.cap_per_member,
    )
    return {
        "object": "earning_simulation",
        "program": program.program_id,
        "amount": amount,
        "currency": purchase.currency,
        "points": result.points,
        "pending_period_seconds": config.pending_seconds,
        "rules": [o.view() for o in result.outcomes],
    }
