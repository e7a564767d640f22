"""The transaction rows' own rules, and exact sums over them on both stores (used by ``verify``).

Rules checked, in one scan each:
- a commit or void row belongs to an INFLIGHT hold (kind ``transfer``) with the same source,
  destination and currency; a commit is APPLIED, a void is VOID; a hold's commits and voids
  together never exceed it, and it is voided at most once;
- a refund reverses an APPLIED row that is not itself a refund: same amount and currency, parties
  swapped; an original is refunded at most once.

Exact sums: PostgreSQL sums ``NUMERIC`` exactly. SQLite keeps amounts that fit 64 bits as integers
and wider ones as text, and its ``SUM`` refuses to overflow. So on SQLite the database sums the
integer rows, Python adds the (rare) text rows, and a sum that would overflow is redone in Python
from a stream of the rows. Either way the result is exact and the common case stays in SQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.sql.operators import custom_op

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
        self.overflowed = False  # SQLite only: a sum went past 64 bits and was done in Python

    @classmethod
    async def open(cls, conn: AsyncConnection, *, sqlite: bool) -> ExactSums:
        wide = False
        if sqlite:
            amount = t.transactions.c.precise_amount
            found = await conn.execute(
                sa.select(sa.literal(1)).where(sa.func.typeof(amount) != "integer").limit(1)
            )
            wide = found.first() is not None
        return cls(conn, sqlite=sqlite, wide=wide)

    def group_keys(self, keys: Sequence[Any]) -> list[Any]:
        """On SQLite, ``GROUP BY +key``: the unary plus keeps the planner from walking an index in
        key order (one random read per row) instead of scanning the table once."""
        if not self.sqlite:
            return list(keys)
        return [UnaryExpression(key, operator=custom_op("+"), type_=key.type) for key in keys]

    @property
    def sql_compares_exactly(self) -> bool:
        """Whether SQL can sum and compare amounts exactly (on SQLite: all fit, no overflow)."""
        return not (self.wide or self.overflowed)

    async def sum_by(
        self, keys: Sequence[Any], amount: Any, *, when: Sequence[Any], from_: Any
    ) -> dict[Key, list[int]]:
        """Per group of ``keys``: one sum of ``amount`` per condition in ``when`` (one scan)."""
        parts = [sa.case((condition, amount), else_=0) for condition in when]
        n = len(parts)
        query = sa.select(*keys, *(sa.func.sum(p) for p in parts)).select_from(from_)
        if self.wide:
            query = query.where(sa.func.typeof(amount) == "integer")
        try:
            rows = (await self.conn.execute(query.group_by(*self.group_keys(keys)))).all()
        except sa.exc.DBAPIError as exc:
            if not (self.sqlite and _is_overflow(exc)):
                raise
            self.overflowed = True
            return await self._sum_in_python(keys, parts, where=[], from_=from_)
        totals = {tuple(row[:-n]): [int(v) for v in row[-n:]] for row in rows}
        if self.wide:
            narrow = [sa.func.typeof(amount) != "integer"]
            for key, values in (
                await self._sum_in_python(keys, parts, where=narrow, from_=from_)
            ).items():
                into = totals.setdefault(key, [0] * n)
                for index, value in enumerate(values):
                    into[index] += value
        return totals

    async def _sum_in_python(
        self, keys: Sequence[Any], parts: Sequence[Any], *, where: Sequence[Any], from_: Any
    ) -> dict[Key, list[int]]:
        n = len(parts)
        totals: dict[Key, list[int]] = {}
        query = sa.select(*keys, *parts).select_from(from_).where(*where)
        result = await self.conn.stream(query.execution_options(yield_per=10_000))
        async for row in result:
            into = totals.setdefault(tuple(row[:-n]), [0] * n)
            for index, value in enumerate(row[-n:]):
                into[index] += int(value)
        return totals


async def row_discrepancies(conn: AsyncConnection, sums: ExactSums) -> AsyncIterator[Discrepancy]:
    """Every broken row rule, streamed (the queries return only the groups that break a rule)."""
    async for found in _hold_discrepancies(conn, sums):
        yield found
    async for found in _refund_discrepancies(conn, sums):
        yield found


async def _stream(conn: AsyncConnection, query: Any) -> AsyncIterator[Any]:
    """Rows of ``query`` in batches. No SQL ``LIMIT``: it would make PostgreSQL pick a fast-start
    plan (index walks, a random read per row) instead of hash joins over sequential scans."""
    result = await conn.stream(query.execution_options(yield_per=10_000))
    async for row in result:
        yield row


# ---- holds ----------------------------------------------------------------------------------


async def _hold_discrepancies(conn: AsyncConnection, sums: ExactSums) -> AsyncIterator[Discrepancy]:
    """One scan: the commit and void rows grouped by the hold they settle.

    SQLite may refuse a sum past 64 bits part-way through (tampered rows only: a hold's rows sum to
    no more than it), so there the findings are gathered first and, on overflow, the amounts are
    compared in Python instead.
    """
    exact = sums.sql_compares_exactly
    if exact and sums.sqlite:
        try:
            gathered = [
                found
                async for row in _stream(conn, _holds_query(sums, amounts=True))
                for found in _hold_findings(row)
            ]
        except sa.exc.DBAPIError as exc:
            if not _is_overflow(exc):
                raise
            exact = False
        else:
            for found in gathered:
                yield found
            return
    async for row in _stream(conn, _holds_query(sums, amounts=exact)):
        for found in _hold_findings(row):
            yield found
    if not exact:
        async for found in _overused_in_python(conn):
            yield found


def _holds_query(sums: ExactSums, *, amounts: bool) -> Any:
    child, hold = t.transactions.alias("child"), t.transactions.alias("hold")
    c, h = child.c, hold.c
    astray = sa.or_(
        h.source != c.source,
        h.destination != c.destination,
        h.currency != c.currency,
        sa.and_(c.kind == Kind.COMMIT, c.status != Status.APPLIED),
        sa.and_(c.kind == Kind.VOID, c.status != Status.VOID),
    )
    stray = sa.func.sum(sa.case((astray, 1), else_=0))
    voids = sa.func.sum(sa.case((c.kind == Kind.VOID, 1), else_=0))
    wrong = [
        h.id.is_(None),
        h.status != Status.INFLIGHT,
        h.kind != Kind.TRANSFER,
        stray > 0,
        voids > 1,
    ]
    used: Any = sa.null()
    if amounts:
        used = sa.func.sum(c.precise_amount)
        wrong.append(used > h.precise_amount)
    hold_columns = [h.id, h.status, h.kind, h.precise_amount]
    return (
        sa.select(
            c.parent_transaction,
            *hold_columns,
            used.label("used"),
            voids.label("voids"),
            stray.label("stray"),
            sa.func.min(sa.case((astray, c.transaction_id))).label("example"),
        )
        .select_from(child.outerjoin(hold, h.transaction_id == c.parent_transaction))
        .where(c.kind.in_([Kind.COMMIT, Kind.VOID]))
        .group_by(*sums.group_keys([c.parent_transaction]), *hold_columns)
        .having(sa.or_(*wrong))
    )


def _hold_findings(row: Any) -> list[Discrepancy]:
    hold_id = row.parent_transaction or "(none)"
    if row.id is None:
        return [_hold(hold_id, f"commit/void rows settle {hold_id}, which does not exist")]
    found: list[Discrepancy] = []
    if row.status != Status.INFLIGHT or row.kind != Kind.TRANSFER:
        found.append(
            _hold(
                hold_id,
                f"commit/void rows settle {hold_id}, which is a "
                f"{row.status} {row.kind} row, not an inflight hold",
            )
        )
    if row.stray:
        found.append(
            _hold(
                hold_id,
                f"{row.stray} commit/void row(s) of {hold_id} do not match "
                f"it (other parties, currency or status), e.g. {row.example}",
            )
        )
    if row.used is not None and row.used > row.precise_amount:
        found.append(_overused(hold_id, row.precise_amount, int(row.used), row.voids))
    elif row.voids > 1:
        found.append(_overused(hold_id, row.precise_amount, 0, row.voids))
    return found


def _hold(hold_id: str, message: str) -> Discrepancy:
    return Discrepancy("hold", hold_id, "parent_transaction", None, None, message)


async def _overused_in_python(conn: AsyncConnection) -> AsyncIterator[Discrepancy]:
    """Holds whose commits and voids exceed them, streaming each hold's rows in order (exact for
    any size; used on SQLite when amounts are wider than 64 bits or their sums would overflow)."""
    hold, child = t.transactions.alias("hold"), t.transactions.alias("child")
    h, c = hold.c, child.c
    query = (
        sa.select(h.transaction_id, h.precise_amount, c.precise_amount.label("used"))
        .select_from(hold.join(child, c.parent_transaction == h.transaction_id))
        .where(c.kind.in_([Kind.COMMIT, Kind.VOID]))
        .where(h.status == Status.INFLIGHT, h.kind == Kind.TRANSFER)
        .order_by(h.transaction_id)
    )
    current: list[Any] = [None, 0, 0]  # hold id, its amount, what its rows use
    async for row in _stream(conn, query):
        if current[0] != row.transaction_id:
            if current[2] > current[1]:
                yield _overused(current[0], current[1], current[2], 0)
            current = [row.transaction_id, row.precise_amount, 0]
        current[2] += row.used
    if current[2] > current[1]:
        yield _overused(current[0], current[1], current[2], 0)


def _overused(hold_id: str, amount: int, used: int, voids: int) -> Discrepancy:
    if used > amount:
        return Discrepancy(
            "hold",
            hold_id,
            "precise_amount",
            amount,
            used,
            f"hold {hold_id} is for {amount} but its commits and voids use {used}",
        )
    return Discrepancy(
        "hold", hold_id, "void", 1, voids, f"hold {hold_id} is voided {voids} times (at most once)"
    )


# ---- refunds --------------------------------------------------------------------------------


async def _refund_discrepancies(
    conn: AsyncConnection, sums: ExactSums
) -> AsyncIterator[Discrepancy]:
    """One scan: the refund rows grouped by the row they reverse (amounts compared for equality,
    which is exact on both stores)."""
    refund, original = t.transactions.alias("refund"), t.transactions.alias("original")
    r, o = refund.c, original.c
    astray = sa.or_(
        r.status != Status.APPLIED,
        r.precise_amount != o.precise_amount,
        r.source != o.destination,
        r.destination != o.source,
        r.currency != o.currency,
    )
    stray = sa.func.sum(sa.case((astray, 1), else_=0))
    count = sa.func.count()
    original_columns = [
        o.id,
        o.kind,
        o.status,
        o.precise_amount,
        o.currency,
        o.source,
        o.destination,
    ]
    query = (
        sa.select(
            r.parent_transaction,
            *original_columns,
            count.label("refunds"),
            stray.label("stray"),
            sa.func.min(sa.case((astray, r.transaction_id))).label("example"),
        )
        .select_from(refund.outerjoin(original, o.transaction_id == r.parent_transaction))
        .where(r.kind == Kind.REFUND)
        .group_by(*sums.group_keys([r.parent_transaction]), *original_columns)
        .having(
            sa.or_(
                o.id.is_(None),
                o.kind == Kind.REFUND,
                o.status != Status.APPLIED,
                count > 1,
                stray > 0,
            )
        )
    )
    async for row in _stream(conn, query):
        for found in _refund_findings(row):
            yield found


def _refund_findings(row: Any) -> list[Discrepancy]:
    original = row.parent_transaction or "(none)"

    def finding(message: str, **amounts: Any) -> Discrepancy:
        return Discrepancy(
            "refund",
            original,
            amounts.get("field", "parent_transaction"),
            amounts.get("expected"),
            amounts.get("actual"),
            message,
        )

    if row.id is None:
        return [finding(f"refund rows reverse {original}, which does not exist")]
    found = []
    if row.kind == Kind.REFUND:
        found.append(finding(f"{original} is itself a refund and is refunded (refunds are final)"))
    elif row.status != Status.APPLIED:
        found.append(finding(f"{original} is refunded but is {row.status}, not APPLIED"))
    if row.refunds > 1:
        found.append(
            finding(
                f"{original} is refunded {row.refunds} times (at most once)",
                field="refunds",
                expected=1,
                actual=row.refunds,
            )
        )
    if row.stray:
        found.append(
            finding(
                f"refund {row.example} does not reverse {original} exactly: the original moves "
                f"{row.precise_amount} {row.currency} from {row.source} to {row.destination}"
            )
        )
    return found
