"""The scheduler: runs due jobs from ``scheduled_jobs`` with the handler registered for their kind.

Other modules add due work without touching this file::

    from tally.workers.scheduler import register_job_handler, schedule

    async def release_redemption(services: Services, job: Job) -> None: ...

    register_job_handler("loyalty.redemption_release", release_redemption)

    # inside the transaction that creates the redemption:
    await schedule(conn, "loyalty.redemption_release", redemption_id, due_at, {"reason": "..."})

Handlers run at least once (a worker that dies mid-job leaves a lease that runs out, and the job
runs again), so they must be idempotent. A handler that raises is retried with exponential
backoff (30 s doubling, capped at an hour) up to ``max_attempts``; then the job is ``failed`` with
its last error. A job whose kind has no handler in this process waits and is tried again a minute
later (the handler may arrive with the next deploy).

Handler modules are found at start: every ``tally.workers.jobs_*`` module and every
``tally.<package>.jobs`` module is imported, so registering at import time is enough.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import logging
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from tally.metrics import JOBS, PRUNED_ROWS
from tally.store import jobs_repo, retention
from tally.store.jobs_repo import Job, JobState, cancel, schedule

if TYPE_CHECKING:
    from tally.services import Services

__all__ = [
    "Job",
    "JobHandler",
    "JobState",
    "Scheduler",
    "SchedulerConfig",
    "cancel",
    "register_job_handler",
    "schedule",
]

log = logging.getLogger("tally.scheduler")

JobHandler = Callable[["Services", Job], Awaitable[None]]
_HANDLERS: dict[str, JobHandler] = {}


def register_job_handler(kind: str, handler: JobHandler) -> None:
    """Run ``handler(services, job)`` for due jobs of ``kind`` (the last registration wins)."""
    _HANDLERS[kind] = handler


def registered_kinds() -> list[str]:
    return sorted(_HANDLERS)


def load_job_modules() -> None:
    """Import the modules that register handlers (``tally.workers.jobs_*``, ``tally.*.jobs``)."""
    import tally
    import tally.workers as workers

    for info in pkgutil.iter_modules(workers.__path__):
        if info.name.startswith("jobs_"):
            importlib.import_module(f"tally.workers.{info.name}")
    for info in pkgutil.iter_modules(tally.__path__):
        if not info.ispkg or info.name == "core":
            continue
        name = f"tally.{info.name}.jobs"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    poll_seconds: float = 0.25
    batch: int = 50
    concurrency: int = 8
    lease: timedelta = timedelta(minutes=5)
    max_attempts: int = 10
    first_backoff: timedelta = timedelta(seconds=30)
    max_backoff: timedelta = timedelta(hours=1)
    missing_handler_delay: timedelta = timedelta(minutes=1)
    # Retention (``store/retention.py``): the first prune comes ``prune_after`` after the start,
    # then one every ``prune_every`` (None: this scheduler never prunes). Chunks of
    # ``retention.CHUNK`` rows, ``prune_pause`` apart, leave the database to live traffic.
    prune_every: timedelta | None = timedelta(hours=1)
    prune_after: timedelta = timedelta(minutes=1)
    prune_pause: float = 0.05

    def backoff(self, attempts: int) -> timedelta:
        delay: timedelta = self.first_backoff * (2 ** max(0, attempts - 1))
        return min(delay, self.max_backoff)


class Scheduler:
    """Claims due jobs and runs them; ``run_once`` for tests, ``start``/``stop`` for a worker."""

    def __init__(self, services: Services, *, config: SchedulerConfig | None = None) -> None:
        self.services = services
        settings = services.settings
        self.config = config or SchedulerConfig(
            poll_seconds=settings.worker_poll_seconds,
            prune_every=(
                timedelta(seconds=settings.prune_interval_seconds)
                if settings.prune_interval_seconds > 0
                else None
            ),
        )
        self.retention = retention.Retention.from_settings(settings)
        self.pruned = retention.Pruned()
        self._task: asyncio.Task[None] | None = None
        self._pruner: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.ran = 0
        load_job_modules()

    async def run_once(self) -> int:
        """Run every job due now (in rounds of ``batch``); returns how many ran."""
        total = 0
        limit = asyncio.Semaphore(self.config.concurrency)

        async def run(job: Job) -> None:
            async with limit:
                await self._run(job)

        while True:
            jobs = await self._claim()
            if not jobs:
                return total
            await asyncio.gather(*(run(job) for job in jobs))
            total += len(jobs)
            if len(jobs) < self.config.batch:
                return total

    async def _claim(self) -> list[Job]:
        db = self.services.db
        now = self.services.clock.now()
        async with db.read() as conn:
            if not await jobs_repo.any_due(conn, now=now):
                return []
        async with db.write() as conn:
            return await jobs_repo.claim(
                conn,
                now=now,
                limit=self.config.batch,
                lease=self.config.lease,
                skip_locked=db.is_postgres,
            )

    async def _run(self, job: Job) -> None:
        handler = _HANDLERS.get(job.kind)
        db, clock = self.services.db, self.services.clock
        if handler is None:
            log.warning("no handler registered for job kind %s (job %s)", job.kind, job.job_id)
            async with db.write() as conn:
                now = clock.now()
                await jobs_repo.retry_later(
                    conn,
                    job,
                    now=now,
                    due_at=now + self.config.missing_handler_delay,
                    error=f"no handler registered for job kind {job.kind!r}",
                    count_attempt=False,
                )
            return
        try:
            await asyncio.wait_for(
                handler(self.services, job), timeout=self.config.lease.total_seconds() * 0.9
            )
        except Exception as exc:  # a failing job must never stop the scheduler
            await self._failed(job, exc)
            return
        self.ran += 1
        async with db.write() as conn:
            await jobs_repo.finish(conn, job, now=clock.now())
        JOBS.labels("done").inc()

    async def _failed(self, job: Job, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        final = job.attempts >= self.config.max_attempts
        log.warning(
            "job %s (%s %s) failed, attempt %d%s: %s",
            job.job_id,
            job.kind,
            job.subject_id,
            job.attempts,
            " (giving up)" if final else "",
            error,
        )
        now = self.services.clock.now()
        due = None if final else now + self.config.backoff(job.attempts)
        async with self.services.db.write() as conn:
            await jobs_repo.retry_later(conn, job, now=now, due_at=due, error=error)
        JOBS.labels("failed" if final else "retried").inc()

    # ---- running in the background --------------------------------------------------------

    async def prune(self) -> retention.Pruned:
        """Remove what the retention settings no longer keep (events, the delivery log, finished
        jobs, idempotency keys); returns what this call removed."""
        done = await retention.prune(
            self.services.db,
            self.retention,
            now=self.services.clock.now(),
            pause=self.config.prune_pause,
            stop=self._stopping,
        )
        self.pruned.add(done)
        for table, rows in done.counts().items():
            if rows:
                PRUNED_ROWS.labels(table).inc(rows)
        if done.total:
            log.info("pruned %s", done.to_dict())
        return done

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(), name="tally-scheduler")
        if self.config.prune_every is not None:
            self._pruner = asyncio.create_task(self._prune_loop(), name="tally-pruner")

    async def stop(self) -> None:
        self._stopping.set()
        for task in (self._task, self._pruner):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._pruner = None

    async def _prune_loop(self) -> None:
        every = self.config.prune_every
        assert every is not None
        wait = self.config.prune_after.total_seconds()
        while not await self._stopped_within(wait):
            try:
                await self.prune()
            except Exception:  # pruning must never stop the scheduler
                log.exception("pruning failed; trying again at the next interval")
            wait = every.total_seconds()

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                ran = await self.run_once()
            except Exception:
                log.exception("scheduler round failed; retrying")
                ran = 0
            if ran == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.config.poll_seconds)
