"""Reading and drawing the ledger for the terminal: the queries and Rich tables behind
``tally ledgers``, ``tally balances``, ``tally transactions`` and ``tally verify``.

Balances have no precision of their own, so they are shown in minor units with their currency;
transactions carry their precision, so their amounts are shown in major units.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from rich.table import Table
from rich.text import Text
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.ledger.amounts import major_string
from tally.store import tables as t
from tally.store.verify import VerifyReport


@dataclass(slots=True)
class Page:
    """Rows of one listing (newest first) and how many rows match in all."""

    rows: list[Any]
    total: int


# ---- formatting -----------------------------------------------------------------------------


def minor_units(value: int) -> str:
    return f"{value:,}"


def major_units(minor: int, precision: int) -> str:
    """``minor`` in major units: 4200 at precision 100 is ``42.00``; exact for any size."""
    places = len(str(precision)) - 1
    if precision > 1 and precision == 10**places:
        return f"{Decimal(minor).scaleb(-places):,.{places}f}"
    if precision <= 1:
        return minor_units(minor)
    return major_string(minor, precision)


def when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


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
    table.add_column("Ledger ID", overflow="fold", no_wrap=False)
    table.add_column("Name")
    table.add_column("Balances", justify="right")
    table.add_column("Created (UTC)")
    for row in page.rows:
        table.add_row(row.ledger_id, row.name, str(row.balances), when(row.created_at))
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
        for column, value in ((b.ledger_id, ledger), (b.currency, currency),
                              (b.indicator, indicator))
        if value is not None
    ]
    query = (
        sa.select(b.balance_id, b.indicator, b.currency, b.balance, b.inflight_balance,
                  b.inflight_debit_balance, b.created_at, ledgers.name.label("ledger_name"))
        .select_from(t.balances.join(t.ledgers, ledgers.ledger_id == b.ledger_id))
        .where(*filters)
        .order_by(b.created_at.desc(), b.id.desc())
        .limit(limit)
    )
    rows = (await conn.execute(query)).all()
    total = await conn.execute(sa.select(sa.func.count()).select_from(t.balances).where(*filters))
    return Page(rows, int(total.scalar_one()))


def balances_table(page: Page) -> Table:
    table = _table("Balances (minor units)", _caption(page, "balances"))
    table.add_column("Balance ID", overflow="fold")
    table.add_column("Ledger")
    table.add_column("Indicator")
    table.add_column("Currency")
    for name in ("Balance", "Available", "Inflight"):
        table.add_column(name, justify="right")
    table.add_column("Created (UTC)")
    for row in page.rows:
        table.add_row(
            row.balance_id, row.ledger_name, row.indicator or "", row.currency,
            minor_units(row.balance), minor_units(row.balance - row.inflight_debit_balance),
            minor_units(row.inflight_balance), when(row.created_at),
        )
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
        sa.select(tx.transaction_id, tx.reference, tx.status, tx.kind, tx.precise_amount,
                  tx.precision, tx.currency, tx.source, tx.destination, tx.created_at,
                  source.c.indicator.label("source_indicator"),
                  destination.c.indicator.label("destination_indicator"))
        .select_from(
            t.transactions
            .outerjoin(source, source.c.balance_id == tx.source)
            .outerjoin(destination, destination.c.balance_id == tx.destination))
        .where(*filters)
        .order_by(tx.created_at.desc(), tx.id.desc())
        .limit(limit)
    )
    rows = (await conn.execute(query)).all()
    total = await conn.execute(
        sa.select(sa.func.count()).select_from(t.transactions).where(*filters))
    return Page(rows, int(total.scalar_one()))


def transactions_table(page: Page) -> Table:
    table = _table("Transactions", _caption(page, "transactions"))
    table.add_column("Transaction ID", overflow="fold")
    table.add_column("Reference", overflow="fold")
    table.add_column("Status")
    table.add_column("Amount", justify="right")
    table.add_column("Source", overflow="fold")
    table.add_column("Destination", overflow="fold")
    table.add_column("Created (UTC)")
    for row in page.rows:
        status = row.status if row.kind == "transfer" else f"{row.status} ({row.kind})"
        table.add_row(
            row.transaction_id, row.reference, status,
            f"{major_units(row.precise_amount, row.precision)} {row.currency}",
            row.source_indicator or row.source, row.destination_indicator or row.destination,
            when(row.created_at),
        )
    return table


# ---- verify ---------------------------------------------------------------------------------


def verify_summary(report: VerifyReport) -> Text:
    counts = (f"{report.balances:,} balances, {report.transactions:,} transactions, "
              f"{len(report.currencies):,} currencies")
    seconds = f" ({report.seconds:.2f} s)"
    if report.consistent:
        return Text.assemble(("✓ ", "bold green"), counts, " — all consistent", seconds)
    found = "discrepancy" if report.discrepancy_count == 1 else "discrepancies"
    return Text.assemble(("✗ ", "bold red"), counts, " — ",
                         (f"{report.discrepancy_count:,} {found}", "bold red"), seconds)


def discrepancies_table(report: VerifyReport) -> Table:
    listed = len(report.discrepancies)
    caption = "" if listed == report.discrepancy_count else (
        f"first {listed:,} of {report.discrepancy_count:,} shown; --json lists the same")
    table = _table("Discrepancies", caption)
    table.add_column("Check")
    table.add_column("Subject", overflow="fold")
    table.add_column("Field")
    table.add_column("Expected", justify="right")
    table.add_column("Stored", justify="right")
    table.add_column("What is wrong", overflow="fold")
    for item in report.discrepancies:
        table.add_row(
            item.check, item.subject, item.field,
            "" if item.expected is None else minor_units(item.expected),
            "" if item.actual is None else minor_units(item.actual),
            item.message,
        )
    return table


def undecided_note(report: VerifyReport) -> str:
    count = len(report.undecided)
    return (f"{count} balance(s) below zero could not be checked against the overdraft rule "
            f"(their event history is incomplete): {', '.join(report.undecided[:10])}"
            + (" …" if count > 10 else ""))
