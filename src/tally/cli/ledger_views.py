"""Reading and drawing the ledger for the terminal: the queries and Rich tables behind
``tally ledgers``, ``tally balances``, ``tally transactions`` and ``tally verify``.

Balances have no precision of their own, so they are shown in minor units with their currency;
transactions carry their precision, so their amounts are shown in major units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

import sqlalchemy as sa
from rich.table import Table
from rich.text import Text
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.store import tables as t
from tally.store.verify import VerifyReport

NARROW = 100  # terminal columns below which the balances table drops its creation time


@dataclass(slots=True)
class Page:
    """Rows of one listing (newest first) and how many rows match in all."""

    rows: Sequence[Any]
    total: int


# ---- formatting -----------------------------------------------------------------------------


def minor_units(value: int) -> str:
    return f"{value:,}"


def major_units(minor: int, precision: int) -> str:
    """``minor`` in major units (4200 at precision 100 is ``42.00``), exact for any size."""
    if precision <= 1:
        return minor_units(minor)
    places = len(str(precision)) - 1
    sign = "-" if minor < 0 else ""
    if precision == 10**places:
        whole, fraction = divmod(abs(minor), precision)
        return f"{sign}{whole:,}.{fraction:0{places}d}"
    with localcontext() as context:  # e.g. precision 4: 25 -> 6.25 (exact when it terminates)
        context.prec = len(str(abs(minor))) + len(str(precision)) + 20
        value = (Decimal(minor) / Decimal(precision)).normalize()
    return f"{value:,f}"


def when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _row(table: Table, *cells: str) -> None:
    """Add a row of plain text: names and ids from the database are never read as Rich markup."""
    table.add_row(*(Text(cell) for cell in cells))


def _table(title: str, caption: str) -> Table:
    return Table(title=title, caption=caption, title_justify="left", caption_justify="left")


def _caption(page: Page, noun: str) -> str:
    if not page.rows:
        return f"no {noun} match"
    shown = len(page.rows)
    more = "" if shown == page.total else " (newest first; raise --limit to see more)"
    return f"{shown} of {page.total} {noun}{more}"


# ---- ledgers --------------------------------------------------------------------------------


async def list_ledgers(conn: AsyncConnection, *, limit: int) -> Page:
    ledgers, balances = t.ledgers.c, t.balances.c
    count = sa.func.count(balances.balance_id).label("balances")
    query = (
        sa.select(ledgers.ledger_id, ledgers.name, ledgers.created_at, count)
        .select_from(t.ledgers.outerjoin(t.balances, balances.ledger_id == ledgers.ledger_id))
        .group_by(ledgers.id, ledgers.ledger_id, ledgers.name, ledgers.created_at)
        .order_by(ledgers.created_at.desc(), ledgers.id.desc())
        .limit(limit)
    )
    rows = (await conn.execute(query)).all()
    total = (await conn.execute(sa.select(sa.func.count()).select_from(t.ledgers))).scalar_one()
    return Page(rows, int(total))


def ledgers_table(page: Page) -> Table:
    table = _table("Ledgers", _caption(page, "ledgers"))
    table.add_column("Ledger ID", overflow="fold", min_width=12)
    table.add_column("Name", overflow="fold")
    table.add_column("Balances", justify="right", no_wrap=True)
    table.add_column("Created (UTC)", min_width=10)
    for row in page.rows:
        _row(table, row.ledger_id, row.name, str(row.balances), when(row.created_at))
    return table


# ---- balances -------------------------------------------------------------------------------


async def list_balances(
    conn: AsyncConnection,
    *,
    ledger: str | None,
    currency: str | None,
    indicator: str | None,
    limit: int,
) -> Page:
    b, ledgers = t.balances.c, t.ledgers.c
    filters = [
        column == value
        for column, value in (
            (b.ledger_id, ledger),
            (b.currency, currency),
            (b.indicator, indicator),
        )
        if value is not None
    ]
    query = (
        sa.select(
            b.balance_id,
            b.indicator,
            b.currency,
            b.balance,
            b.inflight_balance,
            b.inflight_debit_balance,
            b.created_at,
            ledgers.name.label("ledger_name"),
        )
        .select_from(t.balances.join(t.ledgers, ledgers.ledger_id == b.ledger_id))
        .where(*filters)
        .order_by(b.created_at.desc(), b.id.desc())
        .limit(limit)
    )
    rows = (await conn.execute(query)).all()
    total = await conn.execute(sa.select(sa.func.count()).select_from(t.balances).where(*filters))
    return Page(rows, int(total.scalar_one()))


def balances_table(page: Page, *, width: int = 200) -> Table:
    """The balances; below 100 columns the creation time is left out so the amounts fit."""
    table = _table("Balances (minor units)", _caption(page, "balances"))
    table.add_column("Balance ID / ledger", overflow="fold", min_width=12)
    table.add_column("Indicator", overflow="fold", min_width=6)
    table.add_column("Currency", overflow="fold", min_width=6)
    for name in ("Balance", "Available", "Inflight"):
        table.add_column(name, justify="right", no_wrap=True)
    wide = width >= NARROW
    if wide:
        table.add_column("Created (UTC)", overflow="fold", min_width=8)
    for row in page.rows:
        cells = [
            f"{row.balance_id}\n{row.ledger_name}",
            row.indicator or "",
            row.currency,
            minor_units(row.balance),
            minor_units(row.balance - row.inflight_debit_balance),
            minor_units(row.inflight_balance),
        ]
        _row(table, *cells, *([when(row.created_at)] if wide else []))
    return table


# ---- transactions ---------------------------------------------------------------------------


async def list_transactions(
    conn: AsyncConnection,
    *,
    balance: str | None,
    status: str | None,
    reference: str | None,
    limit: int,
) -> Page:
    tx = t.transactions.c
    source, destination = t.balances.alias("source_balance"), t.balances.alias("dest_balance")
    filters: list[Any] = []
    if balance is not None:
        filters.append(sa.or_(tx.source == balance, tx.destination == balance))
    if status is not None:
        filters.append(tx.status == status.upper())
    if reference is not None:
        filters.append(tx.reference == reference)
    query = (
        sa.select(
            tx.transaction_id,
            tx.reference,
            tx.status,
            tx.kind,
            tx.precise_amount,
            tx.precision,
            tx.currency,
            tx.source,
            tx.destination,
            tx.created_at,
            source.c.indicator.label("source_indicator"),
            destination.c.indicator.label("destination_indicator"),
        )
        .select_from(
            t.transactions.outerjoin(source, source.c.balance_id == tx.source).outerjoin(
                destination, destination.c.balance_id == tx.destination
            )
        )
        .where(*filters)
        .order_by(tx.created_at.desc(), tx.id.desc())
        .limit(limit)
    )
    rows = (await conn.execute(query)).all()
    total = await conn.execute(
        sa.select(sa.func.count()).select_from(t.transactions).where(*filters)
    )
    return Page(rows, int(total.scalar_one()))


def transactions_table(page: Page) -> Table:
    table = _table("Transactions", _caption(page, "transactions"))
    table.add_column("Transaction ID / reference", overflow="fold", min_width=12)
    table.add_column("Status", no_wrap=True)
    table.add_column("Amount", justify="right", no_wrap=True)
    table.add_column("Source -> destination", overflow="fold", min_width=12)
    table.add_column("Created (UTC)", min_width=10)
    for row in page.rows:
        status = row.status if row.kind in ("transfer", "void") else f"{row.status} ({row.kind})"
        _row(
            table,
            f"{row.transaction_id}\n{row.reference}",
            status,
            f"{major_units(row.precise_amount, row.precision)} {row.currency}",
            f"{row.source_indicator or row.source}\n-> "
            f"{row.destination_indicator or row.destination}",
            when(row.created_at),
        )
    return table


# ---- verify ---------------------------------------------------------------------------------


def verify_summary(report: VerifyReport) -> Text:
    currencies = len(report.currencies)
    counts = (
        f"{report.balances:,} balances, {report.transactions:,} transactions, "
        f"{currencies:,} {'currency' if currencies == 1 else 'currencies'}"
    )
    seconds = f" ({report.seconds:.2f} s)"
    if report.consistent:
        return Text.assemble(("✓ ", "bold green"), counts, " — all consistent", seconds)
    found = "discrepancy" if report.discrepancy_count == 1 else "discrepancies"
    return Text.assemble(
        ("✗ ", "bold red"),
        counts,
        " — ",
        (f"{report.discrepancy_count:,} {found}", "bold red"),
        seconds,
    )


def discrepancies_table(report: VerifyReport) -> Table:
    listed = len(report.discrepancies)
    caption = (
        ""
        if listed == report.discrepancy_count
        else (f"first {listed:,} of {report.discrepancy_count:,} shown; --json lists the same")
    )
    table = _table("Discrepancies", caption)
    table.add_column("Check")
    table.add_column("Subject", overflow="fold")
    table.add_column("Field")
    table.add_column("Expected", justify="right")
    table.add_column("Stored", justify="right")
    table.add_column("What is wrong", overflow="fold")
    for item in report.discrepancies:
        _row(
            table,
            item.check,
            item.subject,
            item.field,
            "" if item.expected is None else minor_units(item.expected),
            "" if item.actual is None else minor_units(item.actual),
            item.message,
        )
    return table


def undecided_note(report: VerifyReport) -> str:
    count = len(report.undecided)
    return (
        f"{count} balance(s) below zero could not be checked against the overdraft rule "
        f"(their event history is incomplete): {', '.join(report.undecided[:10])}"
        + (" …" if count > 10 else "")
    )
