"""The ``tally`` command line."""

from __future__ import annotations

import os

import typer

from tally.settings import Settings

app = typer.Typer(help="Tally: ledger-backed loyalty and card rewards.", no_args_is_help=True)


def _settings(database_url: str | None) -> Settings:
    settings = Settings.from_env()
    if database_url:
        settings = settings.with_overrides(database_url=database_url)
    return settings


@app.command()
def serve(
    host: str = typer.Option(None, help="Address to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default 5001)."),
    database_url: str = typer.Option(
        None, "--database-url", help="sqlite:///path or postgresql://..."
    ),
    workers: int = typer.Option(1, help="HTTP worker processes."),
    no_workers: bool = typer.Option(
        False,
        "--no-background-workers",
        help="Do not run the webhook relay and scheduler in this process (run `tally worker`).",
    ),
) -> None:
    """Run the HTTP API (migrations are applied first)."""
    import uvicorn

    from tally.store.migrate import upgrade

    settings = Settings.from_env().with_overrides(host=host, port=port, database_url=database_url)
    settings.check_bind()
    os.environ["TALLY_DATABASE_URL"] = settings.database_url
    os.environ["TALLY_HOST"] = settings.host
    os.environ["TALLY_PORT"] = str(settings.port)
    if no_workers:
        os.environ["TALLY_RUN_WORKERS"] = "false"
    import logging.config

    from tally.logs import log_config

    logging.config.dictConfig(log_config(settings.log_level))
    if settings.auto_migrate:
        upgrade(settings.database_url)
        os.environ["TALLY_AUTO_MIGRATE"] = "false"  # done once here, not again per worker
    uvicorn.run(
        "tally.api.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        loop="uvloop",
        http="tally.api.protocol:CoalescingProtocol",  # httptools, one write per answer
        log_level=settings.log_level,
        log_config=log_config(settings.log_level),
        access_log=False,
        timeout_graceful_shutdown=10,
    )


@app.command()
def migrate(
    database_url: str = typer.Option(
        None, "--database-url", help="sqlite:///path or postgresql://..."
    ),
) -> None:
    """Apply database migrations."""
    from tally.store.migrate import upgrade

    settings = _settings(database_url)
    upgrade(settings.database_url)
    typer.echo("migrations applied")


def main() -> None:
    app()


def _load_command_modules() -> None:
    """Commands contributed by other modules (verify, listings, worker, demo ...)."""
    import importlib

    for name in (
        "ledger_commands",
        "worker_commands",
        "retention_commands",
        "loyalty_commands",
        "bench_commands",
    ):
        try:
            importlib.import_module(f"tally.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tally.cli.{name}":
                raise


_load_command_modules()
