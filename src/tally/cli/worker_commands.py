"""``tally worker``: the webhook relay and the scheduler, apart from the HTTP API.

Run it next to ``tally serve --no-background-workers`` (one or more of each). On PostgreSQL
several workers share the work (``FOR UPDATE SKIP LOCKED``); SIGTERM or Ctrl-C stops claiming
new work and lets in-flight deliveries finish for a few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import logging.config
import signal

import typer

from tally.cli.main import _settings, app
from tally.settings import Settings

log = logging.getLogger("tally.worker")


async def run_worker(
    settings: Settings, *, relay: bool, scheduler: bool, metrics_port: int | None = None
) -> None:
    from tally.services import Services
    from tally.workers.runtime import Workers

    if metrics_port is not None:
        # The worker serves no API: its metrics (deliveries, relay lag, jobs) get their own port.
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=settings.host)
        log.info("metrics on http://%s:%d/metrics", settings.host, metrics_port)

    services = Services.build(settings.with_overrides(run_workers=False))
    await services.start()
    workers = Workers(services, relay=relay, scheduler=scheduler)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await workers.start()
    log.info("worker running (relay=%s, scheduler=%s)", relay, scheduler)
    try:
        await stop.wait()
    finally:
        log.info("worker stopping")
        await workers.stop()
        await services.stop()


@app.command()
def worker(
    database_url: str = typer.Option(
        None, "--database-url", help="sqlite:///path or postgresql://..."
    ),
    relay: bool = typer.Option(True, "--relay/--no-relay", help="Deliver webhooks."),
    scheduler: bool = typer.Option(
        True, "--scheduler/--no-scheduler", help="Run due jobs (hold expiry, scheduled ...)."
    ),
    metrics_port: int = typer.Option(
        None,
        "--metrics-port",
        min=1,
        max=65535,
        help="Serve Prometheus metrics at http://TALLY_HOST:PORT/metrics (default: none).",
    ),
) -> None:
    """Run the webhook relay and the scheduler (use with `serve --no-background-workers`)."""
    from tally.logs import log_config

    settings = _settings(database_url)
    logging.config.dictConfig(log_config(settings.log_level))
    asyncio.run(run_worker(settings, relay=relay, scheduler=scheduler, metrics_port=metrics_port))
