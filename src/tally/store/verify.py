"""Checking the whole store: each balance recomputed from its transaction rows, and every invariant.

``verify_store(db)`` reads one consistent snapshot of the database and checks:

1. each balance's columns against its rows: ``credit_balance`` = sum of APPLIED rows into it,
   ``debit_balance`` = sum of APPLIED rows out of it, ``inflight_credit_balance`` /
   ``inflight_debit_balance`` = sum over the INFLIGHT holds into / out of it of the hold's amount
   minus what its commit and void rows used; ``balance`` and ``inflight_balance`` are the nets;
   every row's currency is its balances' currency;
2. every currency sums to zero over all balances (``balance`` and ``inflight_balance``);
3. no ordinary balance (one that does not allow overdraft) has a negative available balance unless
   a debit allowed it or the balance allowed overdraft at some time (its events say so); a balance
   whose history cannot tell is listed as undecided, not as a failure;
4. the rows' own rules (see ``verify_rows``): commits and voids of holds, refunds.

Totals are computed by the database (``GROUP BY``), never by loading the rows into Python: four
scans of the transactions table in all (two for the totals, one for holds, one for refunds).
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.errors import Unavailable
from tally.core.ledger.records import Kind, Status

from . import tables as t
from .database import Database
from .verify_rows import Discrepancy, ExactSums, row_discrepancies

__all__ = ["Discrepancy", "VerifyReport", "verify_store"]

FIELDS = ("credit_balance", "debit_balance", "inflight_credit_balance", "inflight_debit_balance")
_CHUNK = 500


@dataclass(slots=True)
class VerifyReport:
    """What ``verify_store`` found. ``consistent`` is true when no discrepancy was found."""

    store: str
    balances: int = 0
    transactions: int = 0
    currencies: list[str] = field(default_factory=list)
    discrepancies: list[Discrepancy] = field(default_factory=list)
    discrepancy_count: int = 0
    undecided: list[str] = field(default_factory=list)
    seconds: float = 0.0
    max_details: int = 1000

    @property
    def consistent(self) -> bool:
        return self.discrepancy_count == 0

    def add(self, found: Discrepancy) -> None:
        self.discrepancy_count += 1
        if len(self.discrepancies) < self.max_details:
            self.discrepancies.append(found)

    def to_dict(self) -> dict[str, Any]:
        return {
            "consistent": self.consistent,
            "store": self.store,
            "balances": self.balances,
            "transactions": self.transactions,
            "currencies": self.currencies,
            "discrepancy_count": self.discrepancy_count,
            "discrepancies": [asdict(d) for d in self.discrepancies],
            "undecided_overdrafts": self.undecided,
            "seconds": round(self.seconds, 3),
        }


async def verify_store(db: Database, *, max_details: int = 1000) -> VerifyReport:
    """Recompute every balance from its rows and check every invariant, in one snapshot."""
    started = time.perf_counter()
    report = VerifyReport(
        store="postgresql" if db.is_postgres else "sqlite", max_details=max_details
    )
    async with _snapshot(db) as conn:
        sums = await ExactSums.open(conn, sqlite=db.is_sqlite)
        expected = await _expected_totals(sums)
        candidates = await _check_balances(conn, expected, report)
        await _check_overdrafts(conn, candidates, report)
        counted = await conn.execute(sa.select(sa.func.count()).select_from(t.transactions))
        report.transactions = int(counted.scalar_one())
        async for found in row_discrepancies(conn, sums):
            report.add(found)
    report.seconds = time.perf_counter() - started
    return report


@contextlib.asynccontextmanager
async def _snapshot(db: Database) -> AsyncIterator[AsyncConnection]:
    """A read-only transaction that sees one state of the database for all its statements.

    SQLite's read transaction (WAL) is a snapshot already; PostgreSQL needs REPEATABLE READ.
    """
    if not db.is_postgres:
        async with db.read() as conn:
            yield conn
        return
    try:
        conn = await db.engine.connect()
    except (OSError, sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise Unavailable(f"the database is not reachable: {exc}") from exc
    try:
        conn = await conn.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
        async with conn.begin():
            yield conn
    finally:
        await conn.close()


# ---- 1. balances against their rows ---------------------------------------------------------


@dataclass(slots=True)
class _Expected:
    """Recomputed columns per balance, and the currencies of the rows that touched each."""

    columns: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0] * 4))
    currencies: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, balance_id: str, index: int, amount: int) -> None:
        self.columns[balance_id][index] += amount


async def _expected_totals(sums: ExactSums) -> _Expected:
    """Two scans of the rows: one grouped by destination (credits), one by source (debits).

    Per balance and currency: what APPLIED rows moved, what INFLIGHT holds reserved, and what the
    holds' commit and void rows used. Those rows carry their hold's parties (a row rule that
    ``verify_rows`` checks), so they are summed by their own source and destination, without a join.
    """
    tx = t.transactions.c
    when = [
        tx.status == Status.APPLIED,
        sa.and_(tx.status == Status.INFLIGHT, tx.kind == Kind.TRANSFER),
        tx.kind.in_([Kind.COMMIT, Kind.VOID]),
    ]
    expected = _Expected()
    for party, applied, inflight in ((tx.destination, 0, 2), (tx.source, 1, 3)):
        totals = await sums.sum_by(
            [party, tx.currency], tx.precise_amount, when=when, from_=t.transactions
        )
        for (balance_id, currency), (moved, held, used) in totals.items():
            expected.currencies[balance_id].add(currency)
            expected.add(balance_id, applied, moved)
            expected.add(balance_id, inflight, held - used)
    return expected


async def _check_balances(
    conn: AsyncConnection, expected: _Expected, report: VerifyReport
) -> dict[str, tuple[int, str]]:
    """Compare every balance row; return the ordinary balances whose available is below zero."""
    b = t.balances.c
    query = sa.select(
        b.balance_id,
        b.currency,
        b.allow_overdraft,
        b.balance,
        b.inflight_balance,
        *(getattr(b, name) for name in FIELDS),
    ).order_by(b.id)
    nets: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    below_zero: dict[str, tuple[int, str]] = {}
    result = await conn.stream(query.execution_options(yield_per=5000))
    async for row in result:
        report.balances += 1
        nets[row.currency][0] += row.balance
        nets[row.currency][1] += row.inflight_balance
        for found in _balance_discrepancies(row, expected):
            report.add(found)
        available = row.balance - row.inflight_debit_balance
        if not row.allow_overdraft and available < 0:
            below_zero[row.balance_id] = (available, row.currency)
    for balance_id in sorted(set(expected.columns) | set(expected.currencies)):
        report.add(
            Discrepancy(
                "orphan",
                balance_id,
                "",
                None,
                None,
                f"transaction rows move value on balance {balance_id}, which does not exist",
            )
        )
    report.currencies = sorted(nets)
    for currency, (net, inflight) in sorted(nets.items()):
        _check_zero_sum(currency, net, inflight, report)
    return below_zero


def _balance_discrepancies(row: Any, expected: _Expected) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    want = expected.columns.pop(row.balance_id, [0, 0, 0, 0])
    currencies = expected.currencies.pop(row.balance_id, set())
    for name, value in zip(FIELDS, want, strict=True):
        stored = getattr(row, name)
        if stored != value:
            found.append(
                Discrepancy(
                    "balance",
                    row.balance_id,
                    name,
                    value,
                    stored,
                    f"{name} of {row.balance_id} is {stored} but its transaction rows add up to "
                    f"{value} ({row.currency}; off by {stored - value})",
                )
            )
    for name, credit, debit in (
        ("balance", row.credit_balance, row.debit_balance),
        ("inflight_balance", row.inflight_credit_balance, row.inflight_debit_balance),
    ):
        if getattr(row, name) != credit - debit:
            found.append(
                Discrepancy(
                    "balance",
                    row.balance_id,
                    name,
                    credit - debit,
                    getattr(row, name),
                    f"{name} of {row.balance_id} is {getattr(row, name)}, not its credits minus "
                    f"its debits ({credit - debit})",
                )
            )
    for currency in sorted(currencies - {row.currency}):
        found.append(
            Discrepancy(
                "currency",
                row.balance_id,
                "currency",
                None,
                None,
                f"rows in {currency} move value on {row.balance_id}, which holds {row.currency}",
            )
        )
    return found


def _check_zero_sum(currency: str, net: int, inflight: int, report: VerifyReport) -> None:
    for name, total in (("balance", net), ("inflight_balance", inflight)):
        if total:
            report.add(
                Discrepancy(
                    "zero_sum",
                    currency,
                    name,
                    0,
                    total,
                    f"{currency} does not sum to zero: the {name} of all {currency} balances adds "
                    f"up to {total}",
                )
            )


# ---- 3. overdrafts --------------------------------------------------------------------------


async def _check_overdrafts(
    conn: AsyncConnection, candidates: dict[str, tuple[int, str]], report: VerifyReport
) -> None:
    """A below-zero ordinary balance must have been allowed there by a debit or by its own flag."""
    ids = sorted(candidates)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        permitted = await _permitted_by_rows(conn, chunk)
        suspects = [balance_id for balance_id in chunk if balance_id not in permitted]
        history = await _overdraft_history(conn, suspects)
        for balance_id in suspects:
            flags = history.get(balance_id, {})
            if not flags.get("created"):
                report.undecided.append(balance_id)
            elif not flags["allowed"]:
                report.add(_overdrawn(balance_id, *candidates[balance_id]))


def _overdrawn(balance_id: str, available: int, currency: str) -> Discrepancy:
    return Discrepancy(
        "overdraft",
        balance_id,
        "available_balance",
        0,
        available,
        f"{balance_id} has {available} {currency} available (below zero), but it never allowed "
        "overdraft and no debit from it allowed one",
    )


async def _permitted_by_rows(conn: AsyncConnection, ids: list[str]) -> set[str]:
    tx = t.transactions.c
    rows = await conn.execute(
        sa.select(tx.source)
        .distinct()
        .where(tx.source.in_(ids))
        .where(sa.or_(tx.allow_overdraft.is_(True), tx.overdraft_limit > 0))
    )
    return {row.source for row in rows}


async def _overdraft_history(conn: AsyncConnection, ids: list[str]) -> dict[str, dict[str, bool]]:
    """Per balance: whether its creation event is there, and whether any event allowed overdraft."""
    if not ids:
        return {}
    ev = t.events.c
    rows = await conn.execute(
        sa.select(ev.subject_id, ev.type, ev.payload)
        .where(ev.type.in_(["balance.created", "balance.updated"]))
        .where(ev.subject_id.in_(ids))
    )
    history: dict[str, dict[str, bool]] = {}
    for row in rows:
        flags = history.setdefault(row.subject_id, {"allowed": False})
        if row.type == "balance.created":
            flags["created"] = True
        payload = row.payload if isinstance(row.payload, dict) else {}
        flags["allowed"] = flags["allowed"] or payload.get("allow_overdraft") is True
    return history
