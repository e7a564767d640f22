"""Shared plumbing for loyalty use cases: points transfers, the write path, lots and deficits.

Every use case plans its ledger steps from a read, then calls ``run_steps``: the steps go through
the posting engine and ``write`` (the loyalty rows and events) runs inside the same database
transaction. ``write`` re-checks what the plan assumed (conditional updates) and raises
``StalePlan`` when a concurrent request changed it; ``retrying`` then plans again.

Lots and deficits are only touched inside ``write`` for an account whose ledger balance the same
transaction has locked (the engine locks every balance it moves), so they never race.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.errors import DuplicateReference
from tally.core.ids import new_id
from tally.core.ledger.records import TransactionRecord
from tally.core.ledger.transfers import TransferPlan, TransferRequest, plan_transfer
from tally.core.loyalty.errors import StalePlan
from tally.core.loyalty.lots import Lot, consume, pay_deficit
from tally.core.loyalty.records import LotState, Program
from tally.services import Services

from . import tables_loyalty as lt
from .engine import Step
from .jobs_repo import schedule
from .loyalty_writes import WriteSet, install

T = TypeVar("T")
Write = Callable[[AsyncConnection, list[TransactionRecord]], Awaitable[None]]
ATTEMPTS = 8
VEST_JOB = "loyalty.points_vest"
EXPIRE_JOB = "loyalty.points_expire"


def points_plan(
    program: Program,
    *,
    reference: str,
    source: str,
    destination: str,
    points: int,
    now: datetime,
    description: str,
    inflight: bool = False,
    allow_overdraft: bool = False,
    meta_data: dict[str, Any] | None = None,
) -> TransferPlan:
    return plan_transfer(
        TransferRequest(
            currency=program.point_unit,
            reference=reference,
            description=description,
            precise_amount=points,
            precision=1,
            source=source,
            destination=destination,
            inflight=inflight,
            allow_overdraft=allow_overdraft,
            meta_data={"program": program.program_id, **(meta_data or {})},
        ),
        now=now,
    )


async def run_steps(
    services: Services, steps: list[Step], write: Write, *, queues_only: bool = False
) -> None:
    """Apply ``steps`` and ``write`` atomically (a plain transaction when there are no steps).

    Inside the engine's batch, ``write`` may queue a :class:`WriteSet` for the batch's one
    statement (``loyalty_writes``); the hook that writes it is registered here, before any
    request can queue on this engine. ``queues_only``: ``write`` sends no statement itself.
    """
    if steps:
        install(services.engine)
        await services.engine.execute(steps, extra=write, queues_only=queues_only)
        return
    async with services.db.write() as conn:
        await write(conn, [])


async def retrying(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run ``attempt`` again when it lost a race (``StalePlan``), a few times at most."""
    for _ in range(ATTEMPTS - 1):
        try:
            return await attempt()
        except StalePlan:
            continue
        except sa.exc.IntegrityError as exc:
            if "reference" in str(exc.orig):
                raise DuplicateReference("reference has already been used") from None
            continue
    return await attempt()


async def guarded_update(conn: AsyncConnection, statement: Any, what: str) -> None:
    """Run a conditional update; no row matched means the plan is stale."""
    result = await conn.execute(statement)
    if result.rowcount != 1:
        raise StalePlan(f"{what} changed while this request ran; retry it")


# ---- lots -------------------------------------------------------------------------------------


async def read_deficit(conn: AsyncConnection, account_id: str) -> int:
    row = (
        await conn.execute(
            sa.select(lt.loyalty_accounts.c.deficit).where(
                lt.loyalty_accounts.c.account_id == account_id
            )
        )
    ).first()
    return 0 if row is None else int(row.deficit)


async def _set_deficit(conn: AsyncConnection, account_id: str, old: int, new: int) -> None:
    if old != new:
        await guarded_update(
            conn,
            lt.loyalty_accounts.update()
            .where(lt.loyalty_accounts.c.account_id == account_id)
            .where(lt.loyalty_accounts.c.deficit == old)
            .values(deficit=new),
            "the account's deficit",
        )


def lot_row(
    *,
    program: Program,
    account_id: str,
    ptx_id: str,
    points: int,
    remaining: int,
    now: datetime,
    payment_id: str | None,
    pending_until: datetime | None,
) -> dict[str, Any]:
    available_at = pending_until or now
    return {
        "lot_id": new_id("lot"),
        "account_id": account_id,
        "program_id": program.program_id,
        "ptx_id": ptx_id,
        "payment_id": payment_id,
        "amount": points,
        "remaining": remaining,
        "state": LotState.PENDING if pending_until is not None else LotState.ACTIVE,
        "available_at": available_at,
        "expires_at": program.config.expiry.expires_at(available_at),
        "vest_transaction": None,
        "created_at": now,
    }


async def schedule_lot(conn: AsyncConnection, row: dict[str, Any], now: datetime) -> None:
    if row["state"] == LotState.PENDING:
        await schedule(conn, VEST_JOB, row["lot_id"], row["available_at"], now=now)
    if row["expires_at"] is not None:
        await schedule(conn, EXPIRE_JOB, row["lot_id"], row["expires_at"], now=now)


def queue_lot_jobs(out: WriteSet, row: dict[str, Any], now: datetime) -> None:
    """:func:`schedule_lot` for a new lot, queued on ``out`` (a new lot has no job yet)."""
    if row["state"] == LotState.PENDING:
        out.job(VEST_JOB, row["lot_id"], row["available_at"], now=now)
    if row["expires_at"] is not None:
        out.job(EXPIRE_JOB, row["lot_id"], row["expires_at"], now=now)


async def add_lot(
    conn: AsyncConnection,
    *,
    program: Program,
    account_id: str,
    ptx_id: str,
    points: int,
    now: datetime,
    payment_id: str | None = None,
    pending_until: datetime | None = None,
) -> str:
    """Record a credit as a lot; an active credit pays off the account's deficit first."""
    remaining = points
    if pending_until is None:
        deficit = await read_deficit(conn, account_id)
        if deficit:
            remaining, left = pay_deficit(deficit, points)
            await _set_deficit(conn, account_id, deficit, left)
    row = lot_row(
        program=program,
        account_id=account_id,
        ptx_id=ptx_id,
        points=points,
        remaining=remaining,
        now=now,
        payment_id=payment_id,
        pending_until=pending_until,
    )
    await conn.execute(lt.points_lots.insert().values(**row))
    await schedule_lot(conn, row, now)
    return str(row["lot_id"])


async def active_lots(conn: AsyncConnection, account_id: str) -> list[Lot]:
    c = lt.points_lots.c
    rows = await conn.execute(
        sa.select(c.lot_id, c.remaining, c.expires_at, c.id)
        .where(c.account_id == account_id)
        .where(c.state == LotState.ACTIVE)
        .where(c.remaining > 0)
    )
    return [Lot(r.lot_id, int(r.remaining), r.expires_at, r.id) for r in rows]


async def take_from_lots(
    conn: AsyncConnection, account_id: str, points: int, *, into_deficit: bool
) -> list[tuple[str, int]]:
    """Spend ``points`` from the account's lots, soonest-expiring first.

    What the lots cannot cover becomes deficit when ``into_deficit`` (a clawback below zero);
    otherwise the ledger's funds check has already guaranteed the lots cover it.
    """
    lots = await active_lots(conn, account_id)
    taken, shortfall = consume(lots, points)
    await _write_lots(conn, taken)
    if shortfall and into_deficit:
        deficit = await read_deficit(conn, account_id)
        await _set_deficit(conn, account_id, deficit, deficit + shortfall)
    elif shortfall:
        raise StalePlan("the account's lots changed while this request ran; retry it")
    return taken


async def _write_lots(conn: AsyncConnection, taken: list[tuple[str, int]]) -> None:
    c = lt.points_lots.c
    for lot_id, amount in taken:
        await guarded_update(
            conn,
            lt.points_lots.update()
            .where(c.lot_id == lot_id)
            .where(c.remaining >= amount)
            .values(remaining=c.remaining - amount),
            f"lot {lot_id}",
        )


async def give_back_to_lots(
    conn: AsyncConnection, account_id: str, taken: list[tuple[str, int]]
) -> None:
    """Return held points to the lots they came from, then let them pay any deficit."""
    c = lt.points_lots.c
    for lot_id, amount in taken:
        await conn.execute(
            lt.points_lots.update()
            .where(c.lot_id == lot_id)
            .values(remaining=c.remaining + amount, state=LotState.ACTIVE)
        )
        row = (await conn.execute(sa.select(c.expires_at).where(c.lot_id == lot_id))).first()
        if row is not None and row.expires_at is not None:
            await schedule(conn, EXPIRE_JOB, lot_id, row.expires_at, replace=True)
    deficit = await read_deficit(conn, account_id)
    if deficit:
        lots = await active_lots(conn, account_id)
        paid, left = consume(lots, deficit)
        await _write_lots(conn, paid)
        await _set_deficit(conn, account_id, deficit, left)
