"""Ledger commands: ``tally verify``, ``tally ledgers``, ``tally balances``, ``tally transactions``
and ``tally demo``.

They read the database directly (no server needed). ``--database-url`` defaults to
``TALLY_DATABASE_URL``, then ``sqlite:///./tally.db``. Exit codes: 0 success (for ``verify``: the
ledger is consistent), 1 ``verify`` found discrepancies, 2 the database cannot be used.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.text import Text
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.cli import ledger_views as views
from tally.cli.main import app
from tally.core.errors import TallyError
from tally.settings import Settings
from tally.store.database import Database, sqlite_path
from tally.store.verify import VerifyReport, verify_store

T = TypeVar("T")

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="sqlite:///path or postgresql://... "
        "(default: TALLY_DATABASE_URL, then sqlite:///./tally.db).",
    ),
]
Limit = Annotated[int, typer.Option("--limit", min=1, help="Show at most this many rows.")]


class DatabaseUnusable(Exception):
    """The database cannot be read: missing file, unreachable server, or no Tally schema."""


def _url(database_url: str | None) -> str:
    settings = Settings.from_env()
    return database_url or settings.database_url


def _run(url: str, work: Callable[[Database], Awaitable[T]], *, create: bool = False) -> T:
    """Run ``work`` on the database at ``url``; exit 2 with a clear message if it cannot."""
    try:
        return asyncio.run(_on_database(url, work, create=create))
    except DatabaseUnusable as exc:
        Console(stderr=True).print(Text.assemble(("error: ", "bold red"), str(exc)))
        raise typer.Exit(2) from None


async def _on_database(url: str, work: Callable[[Database], Awaitable[T]], *, create: bool) -> T:
    path = sqlite_path(url)
    if path is not None and not create and not path.exists():
        raise DatabaseUnusable(
            f"there is no database at {path}: run `tally migrate` (or `tally demo`) first, "
            "or pass --database-url"
        )
    db = Database(url)
    try:
        return await work(db)
    except TallyError as exc:
        raise DatabaseUnusable(exc.message) from exc
    except sa.exc.DBAPIError as exc:
        text = str(exc.orig if exc.orig is not None else exc)
        if "no such table" in text or "does not exist" in text:
            text = "the database has no Tally tables: run `tally migrate` first"
        raise DatabaseUnusable(f"the database cannot be read: {text}") from exc
    except OSError as exc:
        raise DatabaseUnusable(f"the database is not reachable: {exc}") from exc
    finally:
        await db.dispose()


def _reading(
    query: Callable[[AsyncConnection], Awaitable[T]],
) -> Callable[[Database], Awaitable[T]]:
    async def work(db: Database) -> T:
        async with db.read() as conn:
            return await query(conn)

    return work


# ---- verify ---------------------------------------------------------------------------------


@app.command()
def verify(
    database_url: DatabaseUrl = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Recompute every balance from its transactions and check the ledger's invariants.

    Exits 0 when everything is consistent, 1 when a discrepancy is found.
    """
    report: VerifyReport = _run(_url(database_url), verify_store)
    if json_output:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report)
    raise typer.Exit(0 if report.consistent else 1)


def _print_report(report: VerifyReport) -> None:
    console = Console(highlight=False)
    if not report.consistent:
        console.print(views.discrepancies_table(report))
    console.print(views.verify_summary(report))
    if report.undecided:
        console.print(views.undecided_note(report), style="yellow")


# ---- listings -------------------------------------------------------------------------------


@app.command()
def ledgers(database_url: DatabaseUrl = None, limit: Limit = 50) -> None:
    """List ledgers, newest first, with how many balances each holds."""
    page = _run(_url(database_url), _reading(lambda c: views.list_ledgers(c, limit=limit)))
    Console(highlight=False).print(views.ledgers_table(page))


@app.command()
def balances(
    database_url: DatabaseUrl = None,
    ledger: Annotated[str | None, typer.Option("--ledger", help="Only this ledger ID.")] = None,
    currency: Annotated[str | None, typer.Option("--currency", help="Only this currency.")] = None,
    indicator: Annotated[
        str | None, typer.Option("--indicator", help="Only this indicator (e.g. @Store).")
    ] = None,
    limit: Limit = 50,
) -> None:
    """List balances, newest first (amounts in minor units)."""
    page = _run(
        _url(database_url),
        _reading(
            lambda c: views.list_balances(
                c, ledger=ledger, currency=currency, indicator=indicator, limit=limit
            )
        ),
    )
    console = Console(highlight=False)
    console.print(views.balances_table(page, width=console.width))


@app.command()
def transactions(
    database_url: DatabaseUrl = None,
    balance: Annotated[
        str | None, typer.Option("--balance", help="Only rows into or out of this balance ID.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="APPLIED, INFLIGHT, VOID, SCHEDULED or REJECTED."),
    ] = None,
    reference: Annotated[
        str | None, typer.Option("--reference", help="Only this reference.")
    ] = None,
    limit: Limit = 50,
) -> None:
    """List transaction rows, newest first (amounts in major units of their precision)."""
    page = _run(
        _url(database_url),
        _reading(
            lambda c: views.list_transactions(
                c, balance=balance, status=status, reference=reference, limit=limit
            )
        ),
    )
    Console(highlight=False).print(views.transactions_table(page))


# ---- demo -----------------------------------------------------------------------------------


@app.command()
def demo(database_url: DatabaseUrl = None) -> None:
    """Fill a database with the loyalty-points flow of the Blnk guide (migrating it first).

    A loyalty ledger, Alice's POINTS balance, 100 points awarded from @Store (held, then
    committed) and a 50-point redemption (held, then voided), all through the posting engine.
    """
    from tally.cli.demo import run_demo

    url = _url(database_url)
    settings = Settings.from_env().with_overrides(
        database_url=url, auto_migrate=True, run_workers=False
    )
    console = Console(highlight=False)

    def say(text: str) -> None:
        console.print(text, markup=False)

    _run(url, lambda _db: run_demo(settings, say), create=True)
