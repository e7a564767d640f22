"""The composition root: settings -> database -> engine -> services. Nothing connects at import."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from tally.core.clock import Clock, SystemClock
from tally.settings import Settings
from tally.store.database import Database
from tally.store.engine import PostingEngine
from tally.store.migrate import upgrade_async
from tally.tuning import tune_gc

log = logging.getLogger("tally")


@dataclass
class Services:
    settings: Settings
    db: Database
    engine: PostingEngine
    clock: Clock
    extras: dict[str, Any] = field(default_factory=dict)
    _started: bool = False

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock | None = None) -> Services:
        clock = clock or SystemClock()
        db = Database(settings.database_url, pool_size=settings.pool_size)
        engine = PostingEngine(
            db, clock=clock, max_batch=settings.max_batch, flushers=settings.flushers or None
        )
        services = cls(settings=settings, db=db, engine=engine, clock=clock)
        from tally.workers.runtime import install as install_events

        install_events(services)  # balance monitors; relay + scheduler when run_workers
        return services

    async def start(self) -> None:
        if self._started:
            return
        if self.settings.auto_migrate:
            await upgrade_async(self.settings.database_url)
        await self.engine.start()
        for hook in self.extras.get("on_start", []):
            await hook(self)
        if self.settings.gc_tuning:
            tune_gc()
        self._started = True

    async def stop(self) -> None:
        for hook in reversed(self.extras.get("on_stop", [])):
            await hook(self)
        await self.engine.stop()
        await self.db.dispose()
        self._started = False
