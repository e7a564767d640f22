"""``tally prune``: remove what the retention settings no longer keep.

The scheduler of ``tally serve`` (or ``tally worker``) prunes every hour on its own
(``TALLY_PRUNE_INTERVAL_SECONDS``); this command does it now, or, with ``--dry-run``, counts what
would go. The ledger itself (ledgers, balances, transactions, identities) is never pruned.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tally.cli.ledger_commands import DatabaseUrl, _run, _url
from tally.cli.main import app
from tally.core.clock import SystemClock
from tally.settings import Settings
from tally.store.database import Database
from tally.store.retention import Pruned, Retention, count, prune

_ROWS = (
    ("deliveries", "finished webhook deliveries", "events"),
    ("attempts", "their delivery attempts", "events"),
    ("events", "events handed on by the relay", "events"),
    ("jobs", "finished scheduled jobs", "events"),
    ("idempotency_keys", "idempotency keys", "idempotency_keys"),
)


@app.command(name="prune")
def prune_command(
    database_url: DatabaseUrl = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be removed; remove nothing.")
    ] = False,
    event_days: Annotated[
        int | None,
        typer.Option(
            "--event-days",
            min=0,
            help="Keep events, the delivery log and finished jobs this many days "
            "(default: TALLY_EVENT_RETENTION_DAYS, 90; 0 keeps them for ever).",
        ),
    ] = None,
    idempotency_hours: Annotated[
        int | None,
        typer.Option(
            "--idempotency-hours",
            min=0,
            help="Keep idempotency keys this many hours "
            "(default: TALLY_IDEMPOTENCY_RETENTION_HOURS, 24; 0 keeps them for ever).",
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Remove old events, delivery logs, finished jobs and idempotency keys (never the ledger)."""
    settings = Settings.from_env().with_overrides(
        event_retention_days=event_days, idempotency_retention_hours=idempotency_hours
    )
    retention = Retention.from_settings(settings)
    now = SystemClock().now()

    async def work(db: Database) -> Pruned:
        if dry_run:
            return await count(db, retention, now=now)
        return await prune(db, retention, now=now)

    result = _run(_url(database_url), work)
    if json_output:
        typer.echo(json.dumps({"dry_run": dry_run, **result.to_dict()}, indent=2))
        return
    table = Table(title="Would be removed (dry run)" if dry_run else "Removed")
    table.add_column("rows")
    table.add_column("kept for")
    table.add_column("count", justify="right")
    for name, label, window in _ROWS:
        kept = getattr(retention, window)
        table.add_row(
            label,
            "for ever" if kept is None else _span(kept.total_seconds()),
            f"{getattr(result, name):,}",
        )
    console = Console(highlight=False)
    console.print(table)
    if result.yielded:
        console.print("another process was pruning at the same time; it goes on", style="yellow")


def _span(seconds: float) -> str:
    hours = int(seconds // 3600)
    return f"{hours // 24} days" if hours % 24 == 0 and hours > 24 else f"{hours} hours"
