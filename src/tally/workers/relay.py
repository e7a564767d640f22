"""The relay: hands outbox events on (webhook deliveries, due jobs) and delivers webhooks.

Each round:

1. **Fan-out.** New events (in id order, late commits included, see ``events_repo``) become a
   pending delivery for every enabled endpoint that wants their type, and the due jobs they imply
   (hold expiry, scheduled transactions); the relay's position advances in the same transaction,
   so a crash repeats the work instead of losing it. Only one worker fans out at a time (the
   cursor row is locked; others skip it).
2. **Claim.** Due deliveries are leased per endpoint, at most ``per_endpoint`` in flight per
   endpoint and ``max_in_flight`` in all, with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
   several workers share the work and never send the same delivery at once.
3. **Send.** Each delivery runs in its own task: a slow or dead receiver only holds its own
   slots, never the others'. The outcome is logged and decides the next state (retry schedule,
   410 disables the endpoint).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx

from tally.core.clock import Clock, SystemClock
from tally.core.events.envelope import encode_body, event_envelope
from tally.core.events.retry import (
    STANDARD_SCHEDULE,
    Decision,
    Outcome,
    State,
    decide,
    parse_schedule,
)
from tally.metrics import (
    RELAY_LAG,
    WEBHOOK_ATTEMPT_SECONDS,
    WEBHOOK_ATTEMPTS,
    WEBHOOK_DELIVERIES_FINISHED,
)
from tally.store import deliveries_repo, events_repo, webhooks_repo
from tally.store.deliveries_repo import Claimed
from tally.store.types import to_micros
from tally.store.webhooks_repo import SecretBox

from . import delivery, jobs_ledger

if TYPE_CHECKING:
    from tally.services import Services
    from tally.settings import Settings

log = logging.getLogger("tally.relay")


@dataclass(frozen=True, slots=True)
class RelayConfig:
    schedule: tuple[float, ...] = STANDARD_SCHEDULE
    max_age: timedelta = timedelta(days=3)
    timeout: float = 10.0
    poll_seconds: float = 0.25
    fan_out_batch: int = 500
    # A round that handed events on (it stops only once caught up) is followed by the next no
    # sooner than this: under a steady stream of postings each round then hands on many events
    # at once instead of a few, for a fraction of the statements.
    round_gap: float = 0.05
    # ``round_gap`` when the last events handed on found no enabled endpoint: nothing is waiting
    # to be delivered, and what such a round still does (the expiry jobs of holds, scheduled
    # transactions) keeps for a second. Rounds are ~10 statements whatever they carry; at 50 ms
    # apart they cost a tenth of the server's CPU under a steady stream of postings.
    quiet_gap: float = 1.0
    # A finished delivery frees a slot; claiming its successor alone costs a round (a few
    # statements) per delivery. Freed slots are gathered this long and claimed together, and
    # outcomes are recorded together the same way.
    gather_seconds: float = 0.01
    max_in_flight: int = 64
    per_endpoint: int = 16
    lease_margin: timedelta = timedelta(seconds=5)
    secrets_key: str | None = field(default=None, repr=False)

    @property
    def lease(self) -> timedelta:
        """How long a claimed delivery stays with its worker: twice the timeout plus a margin
        (claiming, signing and recording take a moment too)."""
        return timedelta(seconds=2 * self.timeout) + self.lease_margin

    @classmethod
    def from_settings(cls, settings: Settings) -> RelayConfig:
        schedule = (
            parse_schedule(settings.webhook_retry_schedule)
            if settings.webhook_retry_schedule
            else STANDARD_SCHEDULE
        )
        return cls(
            schedule=schedule,
            max_age=timedelta(seconds=settings.webhook_max_age_seconds),
            timeout=settings.webhook_timeout_seconds,
            poll_seconds=settings.worker_poll_seconds,
            secrets_key=settings.webhook_secrets_key,
        )


class Relay:
    def __init__(
        self,
        services: Services,
        *,
        config: RelayConfig | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        wall_clock: Clock | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.services = services
        self.config = config or RelayConfig.from_settings(services.settings)
        self.box = SecretBox(self.config.secrets_key)
        self.wall = wall_clock or SystemClock()  # signatures carry real time, whatever the clock
        self.rand = rand
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._in_flight: dict[str, int] = defaultdict(int)
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._results: list[tuple[Claimed, Outcome, asyncio.Future[None]]] = []
        self._recorder: asyncio.Task[None] | None = None
        self.sent = 0
        # Whether the last events handed on found an enabled endpoint (until known: yes).
        self.listening = True

    # ---- one round ------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Fan out, then send everything due now and wait for it; returns attempts made."""
        await self.fan_out()
        made = 0
        while tasks := await self.dispatch():
            await asyncio.gather(*tasks)
            made += len(tasks)
        return made

    async def fan_out(self) -> int:
        """Hand on every event not handed on yet; returns how many events were taken."""
        db, now = self.services.db, self.services.clock.now()
        async with db.read() as conn:
            if not await events_repo.has_work(conn, await events_repo.peek_cursor(conn)):
                RELAY_LAG.set(0)
                return 0
        total = 0
        oldest: int | None = None
        while True:
            async with db.write() as conn:
                cursor = await events_repo.lock_cursor(conn, now=now)
                if cursor is None:
                    return total  # another worker is fanning out right now
                events = await events_repo.take(
                    conn,
                    cursor,
                    limit=self.config.fan_out_batch,
                    render=jobs_ledger.EVENTS_WITH_JOBS,  # deliveries render theirs when sent
                )
                if events:
                    routes = await webhooks_repo.enabled_routes(conn)
                    self.listening = bool(routes)
                    await deliveries_repo.fan_out(conn, events, routes, now=now)
                    for event in events:
                        if event.type in jobs_ledger.EVENTS_WITH_JOBS:
                            await jobs_ledger.jobs_from_event(
                                conn, event.type, event.payload, now=now
                            )
                await events_repo.save_cursor(conn, cursor, now=now)
            total += len(events)
            if events:
                first = min(event.created_micros for event in events)
                oldest = first if oldest is None else min(oldest, first)
            if len(events) < self.config.fan_out_batch:
                age = 0.0 if oldest is None else (to_micros(now) - oldest) / 1e6
                RELAY_LAG.set(max(age, 0.0))
                return total

    async def dispatch(self) -> list[asyncio.Task[None]]:
        """Claim what is due (within the concurrency limits) and start sending it."""
        room = self.config.max_in_flight - sum(self._in_flight.values())
        if room <= 0:
            return []
        db, now = self.services.db, self.services.clock.now()
        async with db.read() as conn:
            due = await deliveries_repo.due_endpoints(conn, now=now)
        wanted = {e: min(room, self.config.per_endpoint - self._in_flight[e]) for e in due}
        wanted = {e: n for e, n in wanted.items() if n > 0}
        if not wanted:
            return []
        claimed: list[Claimed] = []
        async with db.write() as conn:
            for endpoint_id, count in wanted.items():
                count = min(count, room - len(claimed))
                if count <= 0:
                    break
                claimed += await deliveries_repo.claim(
                    conn,
                    endpoint_id,
                    limit=count,
                    now=now,
                    lease=self.config.lease,
                    skip_locked=db.is_postgres,
                )
        tasks = []
        for item in claimed:
            self._in_flight[item.endpoint_id] += 1
            task = asyncio.create_task(self._deliver(item), name=f"deliver-{item.delivery_id}")
            self._tasks.add(task)
            task.add_done_callback(self._done)
            tasks.append(task)
        return tasks

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake.set()

    async def _deliver(self, item: Claimed) -> None:
        try:
            try:
                outcome = await self._send(item)
            finally:
                # The endpoint is done with it: its slot is free while the outcome is recorded
                # (the delivery stays leased until then, so no round can claim it meanwhile).
                self._release(item)
            await self._record(item, outcome)
        except Exception:  # the lease runs out and the delivery is tried again
            log.exception(
                "delivery %s to %s failed to complete", item.delivery_id, item.endpoint_id
            )

    def _release(self, item: Claimed) -> None:
        self._in_flight[item.endpoint_id] -= 1
        if self._in_flight[item.endpoint_id] <= 0:
            self._in_flight.pop(item.endpoint_id, None)
        self._wake.set()  # a slot is free: the next round may claim

    async def _send(self, item: Claimed) -> Outcome:
        body = encode_body(
            event_envelope(item.event_id, item.event_type, item.event_created_at, item.payload)
        )
        at = self.wall.now()
        secrets = webhooks_repo.signing_secrets(
            item.endpoint, box=self.box, now=self.services.clock.now()
        )
        headers = delivery.sign_headers(item.event_id, body, secrets, at=at)
        return await delivery.attempt(
            self._http(), item.url, body, headers, timeout_seconds=self.config.timeout, now=at
        )

    async def _record(self, item: Claimed, outcome: Outcome) -> None:
        """Queue the outcome for the recorder (one write transaction for all that are waiting)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._results.append((item, outcome, future))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._write_results(), name="tally-relay-log")
        await future

    async def _write_results(self) -> None:
        await self._rest(self.config.gather_seconds)  # let outcomes of deliveries under way join
        while self._results:
            batch, self._results = self._results, []
            try:
                await self._write_batch([(item, outcome) for item, outcome, _ in batch])
            except Exception as exc:  # their leases run out and they are sent again
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, _, future in batch:
                if not future.done():
                    future.set_result(None)

    async def _write_batch(self, batch: list[tuple[Claimed, Outcome]]) -> None:
        now = self.services.clock.now()
        disabled = {item.endpoint_id for item, outcome in batch if outcome.gone}
        results = []
        for item, outcome in batch:
            decision = decide(
                outcome,
                attempts=item.attempt,
                started_at=item.started_at,
                now=now,
                schedule=self.config.schedule,
                max_age=self.config.max_age,
                rand=self.rand,
            )
            if item.endpoint_id in disabled and decision.state == State.PENDING:
                decision = Decision(State.CANCELLED, None, reason="endpoint disabled")
            results.append((item, outcome, decision))
        async with self.services.db.write() as conn:
            await deliveries_repo.record(conn, results, now=now)
        for item, outcome, decision in results:
            self._log(item, outcome, decision)
            _count(outcome, decision)
        self.sent += len(batch)

    @staticmethod
    def _log(item: Claimed, outcome: Outcome, decision: Decision) -> None:
        if outcome.succeeded:
            return
        log.info(
            "delivery %s of %s to %s failed (attempt %d): %s -> %s",
            item.delivery_id,
            item.event_id,
            item.endpoint_id,
            item.attempt,
            outcome.error or f"HTTP {outcome.status_code}",
            decision.state,
        )

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self._transport,
                follow_redirects=False,
                trust_env=False,
                limits=httpx.Limits(
                    max_connections=self.config.max_in_flight,
                    max_keepalive_connections=self.config.max_in_flight,
                ),
            )
        return self._client

    # ---- running in the background --------------------------------------------------------

    async def start(self) -> None:
        self._stopping.clear()
        self._loop_task = asyncio.create_task(self._loop(), name="tally-relay")

    async def stop(self, *, grace: float = 5.0) -> None:
        """Stop claiming; give in-flight deliveries ``grace`` seconds, then cancel them (their
        leases run out and another round sends them again)."""
        self._stopping.set()
        self._wake.set()
        if self._loop_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._recorder is not None:
            with contextlib.suppress(Exception):
                await self._recorder
            self._recorder = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            busy = sending = False
            taken = 0
            try:
                taken = await self.fan_out()
                sending = bool(await self.dispatch())
                busy = sending or taken > 0
            except Exception:
                log.exception("relay round failed; retrying")
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.config.poll_seconds)
                    await self._rest(self.config.gather_seconds)  # woken by a finished delivery
                continue
            quiet = not (self.listening or sending)
            if taken:  # caught up: let a few more arrive
                await self._rest(self.config.quiet_gap if quiet else self.config.round_gap)

    async def _rest(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the relay is stopping."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)


def _count(outcome: Outcome, decision: Decision) -> None:
    if outcome.succeeded:
        result = "succeeded"
    elif outcome.status_code is not None:
        result = "http_status"
    else:
        result = "no_response"
    WEBHOOK_ATTEMPTS.labels(result).inc()
    WEBHOOK_ATTEMPT_SECONDS.observe(outcome.latency_ms / 1000)
    if decision.state != State.PENDING:
        WEBHOOK_DELIVERIES_FINISHED.labels(decision.state).inc()
