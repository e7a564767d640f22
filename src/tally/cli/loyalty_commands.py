"""``tally loyalty …``: programs, accounts, due work and reconciliation from the command line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer

from tally.cli.main import app
from tally.services import Services
from tally.settings import Settings

loyalty = typer.Typer(
    help="Loyalty programs, accounts, due work and reconciliation.", no_args_is_help=True
)
app.add_typer(loyalty, name="loyalty")

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="sqlite:///path or postgresql://... (default TALLY_DATABASE_URL)"
    ),
]


def _run(database_url: str | None, work: Callable[[Services], Awaitable[Any]]) -> Any:
    settings = Settings.from_env().with_overrides(database_url=database_url, run_workers=False)

    async def go() -> Any:
        services = Services.build(settings)
        await services.start()
        try:
            return await work(services)
        finally:
            await services.stop()

    return asyncio.run(go())


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2))


@loyalty.command("programs")
def programs(database_url: DatabaseUrl = None) -> None:
    """List loyalty programs with their settings."""
    from tally.store import loyalty_programs

    _print(_run(database_url, loyalty_programs.list_programs))


@loyalty.command("account")
def account(account_id: str, database_url: DatabaseUrl = None) -> None:
    """Show an account: balance, available, pending, held and lifetime totals."""
    from tally.store import loyalty_members

    _print(_run(database_url, lambda s: loyalty_members.get_account(s, account_id)))


@loyalty.command("due")
def due(database_url: DatabaseUrl = None) -> None:
    """Run the due work now: vest pending points, release timed-out redemptions, expire lots.

    The scheduler does this continuously in ``tally serve``/``tally worker``; this command is for
    operations (for example after a long outage) and is safe to run at any time.
    """
    from tally.store import loyalty_due

    _print(_run(database_url, lambda s: loyalty_due.run_due(s, s.clock.now())))


@loyalty.command("reconcile")
def reconcile(
    program: Annotated[str | None, typer.Option(help="Only this program (prog_…).")] = None,
    account: Annotated[str | None, typer.Option(help="Only this account (loy_…).")] = None,
    anomalies_only: Annotated[bool, typer.Option("--anomalies-only")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 100,
    database_url: DatabaseUrl = None,
) -> None:
    """Per payment: earned, clawed back, net earned and anomaly flags (newest first)."""
    from tally.store import loyalty_reports

    result = _run(
        database_url,
        lambda s: loyalty_reports.reconciliation(
            s,
            program=program,
            account=account,
            gte=None,
            lte=None,
            anomalies_only=anomalies_only,
            limit=limit,
            starting_after=None,
        ),
    )
    _print(result)
    if any(line["flags"] for line in result["data"]):
        raise typer.Exit(code=1)
