"""The transaction rows' own rules, and exact sums over them on both stores (used by ``verify``).

Rules checked:
- a commit or void row belongs to an INFLIGHT hold (kind ``transfer``) with the same source,
  destination and currency; a commit is APPLIED, a void is VOID;
- a hold's commits and voids together never exceed it, and it is voided at most once;
- a refund reverses an APPLIED row that is not itself a refund: same amount and currency, parties
  swapped; an original is refunded at most once.

Exact sums: PostgreSQL sums ``NUMERIC`` exactly. SQLite keeps amounts that fit 64 bits as integers
and wider ones as text, and its ``SUM`` refuses to overflow. So on SQLite the database sums the
integer rows, Python adds the (rare) text rows, and a sum that would overflow is redone in Python
from a stream of the rows. Either way the result is exact and the common case stays in SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.ledger.records import Kind, Status

from . import tables as t

Key = tuple[Any, ...]


@dataclass(slots=True)
class Discrepancy:
    """One thing that is not as the ledger's rules say.

    ``check`` names the rule (``balance``, ``zero_sum``, ``overdraft``, ``currency``, ``orphan``,
    ``hold``, ``refund``); ``subject`` is the balance, currency or transaction concerned;
    ``expected`` / ``actual`` are amounts in minor units when the rule compares amounts.
    """

    check: str
    subject: str
    field: str
    expected: int | None
    actual: int | None
    message: str


def _is_overflow(exc: sa.exc.DBAPIError) -> bool:
    return "overflow" in str(exc.orig if exc.orig is not None else exc).lower()


class ExactSums:
    """``SUM(amount) GROUP BY keys`` that is exact on both stores, whatever the amounts' size."""

    def __init__(self, conn: AsyncConnection, *, sqlite: bool, wide: bool) -> None:
        self.conn = conn
        self.sqlite = sqlite
        self.wide = wide  # SQLite only: some amounts are wider than 64 bits (stored as text)

    @classmethod
    async def open(cls, conn: AsyncConnection, *, sqlite: bool) -> ExactSums:
        wide = False
        if sqlite:
            amount = t.transactions.c.precise_amount
            found = await conn.execute(
                sa.select(sa.literal(1)).where(sa.func.typeof(amount) != "integer").limit(1))
            wide = found.first() is not None
        return cls(conn, sqlite=sqlite, wide=wide)

    @property
    def sql_compares_exactly(self) -> bool:
        """Whether amount comparisons in SQL are exact (false on SQLite with text amounts)."""
        return not self.wide

    async def sum_by(
        self, keys: Sequence[Any], amount: Any, *, where: Sequence[Any], from_: Any
    ) -> dict[Key, int]:
        query = sa.select(*keys, sa.func.sum(amount)).select_from(from_).where(*where)
        if self.wide:
            query = query.where(sa.func.typeof(amount) == "integer")
        try:
            rows = (await self.conn.execute(query.group_by(*keys))).all()
        except sa.exc.DBAPIError as exc:
            if not (self.sqlite and _is_overflow(exc)):
                raise
            return await self._sum_in_python(keys, amount, where=where, from_=from_)
        totals = {tuple(row[:-1]): int(row[-1]) for row in rows}
        if self.wide:
            narrow = [*where, sa.func.typeof(amount) != "integer"]
            for key, value in (await self._sum_in_python(
                    keys, amount, where=narrow, from_=from_)).items():
                totals[key] = totals.get(key, 0) + value
        return totals

    async def _sum_in_python(
        self, keys: Sequence[Any], amount: Any, *, where: Sequence[Any], from_: Any
    ) -> dict[Key, int]:
        totals: dict[Key, int] = {}
        query = sa.select(*keys, amount).select_from(from_).where(*where)
        result = await self.conn.stream(query.execution_options(yield_per=10_000))
        async for row in result:
            key = tuple(row[:-1])
            totals[key] = totals.get(key, 0) + int(row[-1])
        return totals


async def row_discrepancies(
    conn: AsyncConnection, sums: ExactSums, *, limit: int
) -> list[Discrepancy]:
    found = await _misplaced_hold_rows(conn, limit)
    found += await _overused_holds(conn, sums, limit)
    found += await _bad_refunds(conn, limit)
    found += await _repeated_refunds(conn, limit)
    return found


# ---- holds ----------------------------------------------------------------------------------


async def _misplaced_hold_rows(conn: AsyncConnection, limit: int) -> list[Discrepancy]:
    child, hold = t.transactions.alias("child"), t.transactions.alias("hold")
    c, h = child.c, hold.c
    query = (
        sa.select(c.transaction_id, c.kind, c.status, c.parent_transaction, c.source,
                  c.destination, c.currency, h.id.label("hold_row"), h.status.label("h_status"),
                  h.kind.label("h_kind"), h.source.label("h_source"),
                  h.destination.label("h_destination"), h.currency.label("h_currency"))
        .select_from(child.outerjoin(hold, h.transaction_id == c.parent_transaction))
        .where(c.kind.in_([Kind.COMMIT, Kind.VOID]))
        .where(sa.or_(
            h.id.is_(None), h.status != Status.INFLIGHT, h.kind != Kind.TRANSFER,
            h.source != c.source, h.destination != c.destination, h.currency != c.currency,
            sa.and_(c.kind == Kind.COMMIT, c.status != Status.APPLIED),
            sa.and_(c.kind == Kind.VOID, c.status != Status.VOID),
        ))
        .order_by(c.id)
        .limit(limit)
    )
    return [_misplaced(row) for row in await conn.execute(query)]


def _misplaced(row: Any) -> Discrepancy:
    name = f"{row.kind} row {row.transaction_id}"
    if row.hold_row is None:
        reason = f"{name} points to {row.parent_transaction}, which does not exist"
    elif row.h_status != Status.INFLIGHT or row.h_kind != Kind.TRANSFER:
        reason = (f"{name} settles {row.parent_transaction}, which is a {row.h_status} "
                  f"{row.h_kind} row, not an inflight hold")
    elif (row.source, row.destination, row.currency) != (
            row.h_source, row.h_destination, row.h_currency):
        reason = (f"{name} moves {row.currency} from {row.source} to {row.destination}; its hold "
                  f"{row.parent_transaction} moves {row.h_currency} from {row.h_source} to "
                  f"{row.h_destination}")
    else:
        reason = f"{name} has status {row.status}"
    return Discrepancy("hold", row.transaction_id, "parent_transaction", None, None, reason)


async def _overused_holds(
    conn: AsyncConnection, sums: ExactSums, limit: int
) -> list[Discrepancy]:
    hold, child = t.transactions.alias("hold"), t.transactions.alias("child")
    h, c = hold.c, child.c
    used = sa.func.sum(c.precise_amount)
    voids = sa.func.sum(sa.case((c.kind == Kind.VOID, 1), else_=0))
    base = (
        sa.select(h.transaction_id, h.precise_amount, used.label("used"), voids.label("voids"))
        .select_from(hold.join(child, c.parent_transaction == h.transaction_id))
        .where(c.kind.in_([Kind.COMMIT, Kind.VOID]))
        .where(h.status == Status.INFLIGHT, h.kind == Kind.TRANSFER)
        .group_by(h.transaction_id, h.precise_amount)
    )
    if sums.sql_compares_exactly:
        try:
            rows = await conn.execute(
                base.having(sa.or_(used > h.precise_amount, voids > 1)).limit(limit))
            return [_overused(row.transaction_id, row.precise_amount, int(row.used), row.voids)
                    for row in rows]
        except sa.exc.DBAPIError as exc:
            if not (sums.sqlite and _is_overflow(exc)):
                raise
    return await _overused_in_python(conn, limit)


async def _overused_in_python(conn: AsyncConnection, limit: int) -> list[Discrepancy]:
    """The same check, streaming each hold's settling rows in order (exact for any size)."""
    hold, child = t.transactions.alias("hold"), t.transactions.alias("child")
    h, c = hold.c, child.c
    query = (
        sa.select(h.transaction_id, h.precise_amount, c.precise_amount.label("used"), c.kind)
        .select_from(hold.join(child, c.parent_transaction == h.transaction_id))
        .where(c.kind.in_([Kind.COMMIT, Kind.VOID]))
        .where(h.status == Status.INFLIGHT, h.kind == Kind.TRANSFER)
        .order_by(h.transaction_id)
    )
    found: list[Discrepancy] = []
    current: list[Any] | None = None  # [hold id, hold amount, used, voids]
    result = await conn.stream(query.execution_options(yield_per=10_000))
    async for row in result:
        if current is None or current[0] != row.transaction_id:
            if current is not None and (current[2] > current[1] or current[3] > 1):
                found.append(_overused(*current))
            current = [row.transaction_id, row.precise_amount, 0, 0]
        current[2] += row.used
        current[3] += 1 if row.kind == Kind.VOID else 0
    if current is not None and (current[2] > current[1] or current[3] > 1):
        found.append(_overused(*current))
    return found[:limit]


def _overused(hold_id: str, amount: int, used: int, voids: int) -> Discrepancy:
    if used > amount:
        return Discrepancy(
            "hold", hold_id, "precise_amount", amount, used,
            f"hold {hold_id} is for {amount} but its commits and voids use {used}")
    return Discrepancy("hold", hold_id, "void", 1, voids,
                       f"hold {hold_id} is voided {voids} times (at most once)")


# ---- refunds --------------------------------------------------------------------------------


async def _bad_refunds(conn: AsyncConnection, limit: int) -> list[Discrepancy]:
    refund, original = t.transactions.alias("refund"), t.transactions.alias("original")
    r, o = refund.c, original.c
    query = (
        sa.select(r.transaction_id, r.parent_transaction, r.status, r.precise_amount,
                  r.source, r.destination, r.currency, o.id.label("original_row"),
                  o.kind.label("o_kind"), o.status.label("o_status"),
                  o.precise_amount.label("o_amount"), o.source.label("o_source"),
                  o.destination.label("o_destination"), o.currency.label("o_currency"))
        .select_from(refund.outerjoin(original, o.transaction_id == r.parent_transaction))
        .where(r.kind == Kind.REFUND)
        .where(sa.or_(
            o.id.is_(None), o.kind == Kind.REFUND, o.status != Status.APPLIED,
            r.status != Status.APPLIED, o.precise_amount != r.precise_amount,
            o.source != r.destination, o.destination != r.source, o.currency != r.currency,
        ))
        .order_by(r.id)
        .limit(limit)
    )
    return [_bad_refund(row) for row in await conn.execute(query)]


def _bad_refund(row: Any) -> Discrepancy:
    name = f"refund {row.transaction_id}"
    original = row.parent_transaction
    if row.original_row is None:
        reason = f"{name} reverses {original}, which does not exist"
    elif row.o_kind == Kind.REFUND:
        reason = f"{name} refunds {original}, which is itself a refund (refunds are final)"
    elif row.o_status != Status.APPLIED:
        reason = f"{name} refunds {original}, which is {row.o_status}, not APPLIED"
    elif row.status != Status.APPLIED:
        reason = f"{name} has status {row.status}"
    elif row.precise_amount != row.o_amount or row.currency != row.o_currency:
        reason = (f"{name} is {row.precise_amount} {row.currency}; the original {original} is "
                  f"{row.o_amount} {row.o_currency}")
    else:
        reason = (f"{name} moves {row.source} -> {row.destination}; it should reverse "
                  f"{original} ({row.o_source} -> {row.o_destination})")
    return Discrepancy("refund", row.transaction_id, "parent_transaction", None, None, reason)


async def _repeated_refunds(conn: AsyncConnection, limit: int) -> list[Discrepancy]:
    tx = t.transactions.c
    count = sa.func.count()
    rows = await conn.execute(
        sa.select(tx.parent_transaction, count.label("refunds"))
        .where(tx.kind == Kind.REFUND, tx.parent_transaction.is_not(None))
        .group_by(tx.parent_transaction)
        .having(count > 1)
        .order_by(tx.parent_transaction)
        .limit(limit)
    )
    return [
        Discrepancy("refund", row.parent_transaction, "refunds", 1, row.refunds,
                    f"{row.parent_transaction} is refunded {row.refunds} times (at most once)")
        for row in rows
    ]
