"""Wiring the events capability into ``Services``: the monitor hook always, the workers on demand.

``install(services)`` is called when services are built. It registers the balance-monitor check
on the posting engine (every process that posts evaluates monitors, in the posting transaction)
and, when ``settings.run_workers`` is true, starts the relay and the scheduler with the services
and stops them before the engine stops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tally.store.monitors_repo import check_monitors

from .relay import Relay
from .scheduler import Scheduler

if TYPE_CHECKING:
    from tally.services import Services

WORKERS = "workers"


class Workers:
    """The background workers of one process."""

    def __init__(self, services: Services, *, relay: bool = True, scheduler: bool = True) -> None:
        self.relay = Relay(services) if relay else None
        self.scheduler = Scheduler(services) if scheduler else None

    async def start(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.start()
        if self.relay is not None:
            await self.relay.start()

    async def stop(self) -> None:
        if self.relay is not None:
            await self.relay.stop()
        if self.scheduler is not None:
            await self.scheduler.stop()


async def start_workers(services: Services) -> None:
    workers = services.extras.get(WORKERS)
    if not isinstance(workers, Workers):
        workers = services.extras[WORKERS] = Workers(services)
    await workers.start()


async def stop_workers(services: Services) -> None:
    workers = services.extras.pop(WORKERS, None)
    if isinstance(workers, Workers):
        await workers.stop()


def install(services: Services) -> None:
    if check_monitors not in services.engine.after_apply_watched:
        services.engine.after_apply_watched.append(check_monitors)
    if services.settings.run_workers:
        services.extras.setdefault("on_start", []).append(start_workers)
        services.extras.setdefault("on_stop", []).append(stop_workers)
