"""The posting engine: every movement of value goes through here, in batches (group commit).

Concurrent requests put operations on a queue. A flusher takes whatever is waiting (up to
``max_batch`` rows; when other work is in flight and the queue is nearly empty it lingers about a
millisecond for more) and applies it in **one** database transaction:

1. indicator balances (``@World``) named for the first time are created (their own short
   transaction, so creating one never waits behind a batch's row locks), the holds or rows that
   commits, voids and refunds name are read, and the posts' rows and outbox events are built and
   encoded;
2. every balance the batch touches is locked once, in ``balance_id`` order (no deadlocks between
   processes), and read, in one statement that also says which of the batch's references are
   used already (``BatchSql.lock``);
3. operations are applied in memory one by one, each all-or-nothing: one that fails (insufficient
   funds, duplicate reference ...) gets its own error and leaves the others untouched;
4. transaction rows, balance updates and outbox events are written set-based (see
   ``engine_sql``), ``after_apply`` hooks, each operation's ``extra`` and the ``before_commit``
   hooks run, and the transaction commits; each caller gets its own outcome. On PostgreSQL, when
   every extra of the batch only queues rows (``queues_only``), the extras run first and what
   they queued is written by the engine's own statement (``write_merges``): one round trip
   less while the batch holds its locks.

On PostgreSQL a flusher prefers operations that touch no balance of the batch being applied now
(``engine_queue``), and a batch of plain posts is first applied in two trips, an unlocked read
and a write that checks every balance's version, lined up behind this process's batches in flight
on the same balances (``engine_optimistic``); it takes the steps above only if that fails.

If the write itself fails because of one operation (a reference another process took a moment ago,
an ``extra`` raising), that operation alone fails and the others are retried as a batch; a failure
that names no operation replays the batch one operation at a time, so only the culprit fails.

``dry_run`` previews (:meth:`PostingEngine.preview`) run the same in-memory rules on unlocked reads
and write nothing.

This module is the queue, the flushers and the retries; step 1 and the locked way (steps 2 to 4)
are in ``engine_batch``, the two-trip way in ``engine_optimistic``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.clock import Clock, SystemClock
from tally.core.errors import Unavailable
from tally.core.ledger.records import TransactionRecord
from tally.core.ledger.transfers import TransferPlan
from tally.metrics import ENGINE_BATCH_SIZE, ENGINE_OPERATIONS, UNLOCKED_BATCHES

from . import engine_names as names
from .database import Database
from .engine_apply import check_zero_sum
from .engine_batch import (
    OpFailed,
    apply_locked,
    is_transient,
    owner,
    prepare,
    record_for,
    translate,
)
from .engine_names import balance_row
from .engine_ops import (
    AfterApply,
    BeforeCommit,
    Commit,
    EngineStopped,
    Extra,
    Op,
    Post,
    Refund,
    Step,
    Void,
    WriteMerge,
)
from .engine_optimistic import Contention, apply_unlocked, eligible
from .engine_preview import Preview, preview_batch, preview_steps
from .engine_queue import Claim, Held, OpQueue, drain, touches
from .engine_sql import Moved, ReferenceTaken, batch_sql, duplicate_error

__all__ = [
    "AfterApply",
    "BeforeCommit",
    "Commit",
    "EngineStopped",
    "Extra",
    "Op",
    "Post",
    "PostingEngine",
    "Preview",
    "Refund",
    "Step",
    "Void",
    "balance_row",
    "check_zero_sum",
]

log = logging.getLogger("tally.engine")

MAX_TRANSIENT_RETRIES = 3


class PostingEngine:
    def __init__(
        self,
        db: Database,
        *,
        clock: Clock | None = None,
        max_batch: int = 500,
        flushers: int | None = None,
        linger: float = 0.001,
    ) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.max_batch = max_batch
        self.flushers = flushers or 2
        self.linger = linger
        self.after_apply: list[AfterApply] = []
        # Like ``after_apply``, but called only for batches that changed a balance a monitor
        # watches (``BalanceState.monitored``), so that the others may skip the transaction.
        self.after_apply_watched: list[AfterApply] = []
        # Run once per batch after every operation's ``extra``, in the batch's transaction: a
        # module that buffers its rows per connection while its extras run writes them here in
        # one statement. A failure fails the batch, which is then replayed op by op.
        self.before_commit: list[BeforeCommit] = []
        # Modules whose extras queue rows register here too, so that a batch whose extras all
        # only queue writes those rows in the engine's own statement (PostgreSQL).
        self.write_merges: list[WriteMerge] = []
        self.sql = batch_sql(db)
        self._queue = OpQueue()
        self._held = Held()  # balances of the batches being applied now
        self._contention = Contention()  # other processes moving our balances
        self._tasks: list[asyncio.Task[None]] = []
        self._indicators: dict[tuple[str, str], str] = {}
        self._running = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._busy = 0  # flushers currently applying a batch
        self.batches = 0
        self.ops = 0

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._loop = asyncio.get_running_loop()
        self._tasks = [asyncio.create_task(self._flusher()) for _ in range(self.flushers)]

    async def stop(self) -> None:
        """Finish what is queued, then stop the flushers (later calls run inline)."""
        self._running = False
        if self._tasks and not all(task.done() for task in self._tasks):
            await self._queue.join()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # ---- public operations ----------------------------------------------------------------

    async def execute(
        self, steps: list[Step], *, extra: Extra | None = None, queues_only: bool = False
    ) -> list[TransactionRecord]:
        """Apply ``steps`` atomically (with ``extra`` in the same database transaction).

        ``queues_only``: ``extra`` sends no statement itself, it only queues rows in the batch
        scratch (``engine_ops.batch_scratch``) for a registered ``write_merges`` hook."""
        return await self.submit(Op(list(steps), extra=extra, queues_only=queues_only))

    async def post(
        self, plan: TransferPlan, *, extra: Extra | None = None
    ) -> list[TransactionRecord]:
        return await self.execute([Post(plan)], extra=extra)

    async def post_atomic(
        self, plans: list[TransferPlan], *, extra: Extra | None = None
    ) -> list[TransactionRecord]:
        return await self.execute([Post(p) for p in plans], extra=extra)

    async def commit(
        self,
        transaction_id: str,
        *,
        amount: Any = None,
        precise_amount: Any = None,
        meta_data: dict[str, Any] | None = None,
        extra: Extra | None = None,
    ) -> list[TransactionRecord]:
        step = Commit(transaction_id, amount, precise_amount, meta_data)
        return await self.execute([step], extra=extra)

    async def void(
        self,
        transaction_id: str,
        *,
        meta_data: dict[str, Any] | None = None,
        extra: Extra | None = None,
    ) -> list[TransactionRecord]:
        return await self.execute([Void(transaction_id, meta_data)], extra=extra)

    async def refund(
        self,
        transaction_id: str,
        *,
        description: str | None = None,
        meta_data: dict[str, Any] | None = None,
        allow_overdraft: bool = False,
        extra: Extra | None = None,
    ) -> list[TransactionRecord]:
        step = Refund(transaction_id, description, meta_data, allow_overdraft)
        return await self.execute([step], extra=extra)

    async def preview(self, steps: list[Step]) -> Preview:
        """What ``execute(steps)`` would do now, without locking or writing anything."""
        return await preview_steps(self, list(steps))

    async def preview_many(self, groups: list[list[Step]]) -> list[Preview]:
        """Previews of several operations in order, each seeing the ones before it applied."""
        return await preview_batch(self, [list(steps) for steps in groups])

    async def submit(self, op: Op) -> list[TransactionRecord]:
        if not self._running or self._loop is not asyncio.get_running_loop():
            await self.run([op])
        else:
            op.future = self._loop.create_future()
            self._queue.put_nowait(op)
            await op.future
        if op.error is not None:
            raise op.error
        return op.records

    # ---- batching -------------------------------------------------------------------------

    async def _flusher(self) -> None:
        while True:
            batch = await self._take()
            self._busy += 1
            # Claimed as soon as taken (no await in between): the next flusher's choice and
            # wait see this batch (``engine_queue.Held``).
            held: set[str] = set()
            line: tuple[Claim, list[Claim]] | None = None
            if self.sql.side_by_side:
                for op in batch:
                    held |= touches(op, self._indicators)
                line = self._held.claim(held)
            try:
                await self.run(batch, line=line)
            except BaseException as exc:  # never lose a caller: everyone gets an answer
                for op in batch:
                    if op.error is None and not op.records:
                        op.error = exc
                if isinstance(exc, asyncio.CancelledError):
                    self._settle(batch)
                    raise
            finally:
                self._busy -= 1
                if line is not None:
                    self._held.release(held, line[0])
            self._settle(batch)

    async def _take(self) -> list[Op]:
        while True:
            first = await self._queue.get()
            self._queue.put_back([first])
            if self.linger > 0 and self._busy > 0 and len(self._queue) < self.max_batch:
                # Others are writing right now, so more work is coming: wait a moment for it
                # rather than paying a whole database transaction for a handful of rows.
                await asyncio.sleep(self.linger)
            batch: list[Op] = []
            self._drain(batch, 0)
            if batch:  # (another flusher may have taken everything meanwhile)
                return batch

    def _drain(self, batch: list[Op], weight: int) -> int:
        # Prefers ops whose balances no batch being applied now holds (``engine_queue``).
        return drain(self._queue, batch, weight, self.max_batch, self._held, self._indicators)

    def _settle(self, batch: list[Op]) -> None:
        for op in batch:
            if op.future is not None and not op.future.done():
                op.future.set_result(op.records)
            self._queue.task_done()

    async def run(self, batch: list[Op], *, line: tuple[Claim, list[Claim]] | None = None) -> None:
        """Apply ``batch``; every op ends with ``records`` or ``error`` set.

        ``line``: the batch's claim on its balances and the claims of this process's batches in
        flight on them (``Held.claim``). Given, a batch of plain posts is first tried in two
        trips, after those batches (``engine_optimistic``)."""
        self.batches += 1
        self.ops += len(batch)
        ENGINE_BATCH_SIZE.observe(len(batch))
        try:
            await self._run(batch, line)
        finally:
            failed = sum(1 for op in batch if op.error is not None)
            ENGINE_OPERATIONS.labels("failed").inc(failed)
            ENGINE_OPERATIONS.labels("applied").inc(len(batch) - failed)

    async def _run(self, batch: list[Op], line: tuple[Claim, list[Claim]] | None = None) -> None:
        live = await prepare(self, batch)
        if line is not None:
            if live and await self._unlocked(live, *line):
                return
            line[0].settle()  # the locked way: later batches do not build on this one
        transient = 0
        while live:
            for op in live:
                op.reset()
            try:
                await apply_locked(self, live)
                return
            except OpFailed as failure:
                failure.op.fail(failure.error)
                live = [op for op in live if op is not failure.op]
            except ReferenceTaken as exc:
                culprit = owner(live, exc.reference)
                if culprit is None:
                    await self._isolate(live, exc)
                    return
                culprit.fail(duplicate_error(record_for(culprit, exc.reference)))
                live = [op for op in live if op is not culprit]
            except Unavailable as exc:
                for op in live:
                    op.fail(exc)
                return
            except Exception as exc:
                if is_transient(exc) and transient < MAX_TRANSIENT_RETRIES:
                    transient += 1
                    log.info("batch of %d retried after %s", len(live), exc)
                    continue
                await self._isolate(live, exc)
                return

    async def _isolate(self, ops: list[Op], exc: BaseException) -> None:
        if len(ops) == 1:
            ops[0].fail(translate(exc, ops[0]))
            return
        for op in ops:
            op.reset()
            try:
                await apply_locked(self, [op])
            except OpFailed as failure:
                op.fail(failure.error)
            except Exception as error:
                op.fail(translate(error, op))

    # ---- names and targets (step 1 is ``engine_batch.prepare``) --------------------------------

    def unknown_indicators(self, ops: list[Op]) -> set[tuple[str, str]]:
        return names.unknown_indicators(ops, self._indicators)

    @property
    def indicators(self) -> dict[tuple[str, str], str]:
        """Indicator balances known to this engine: ``(name, currency) -> balance_id``."""
        return self._indicators

    async def read_indicators(self, conn: AsyncConnection, wanted: set[tuple[str, str]]) -> None:
        await names.read_indicators(conn, wanted, self._indicators)

    async def load_targets(self, ids: set[str]) -> dict[str, list[TransactionRecord]]:
        """The rows that commits, voids and refunds name (a group id names all its legs)."""
        return await names.load_targets(self.db, ids)

    async def _unlocked(self, ops: list[Op], mine: Claim, before: list[Claim]) -> bool:
        """Try ``ops`` in two trips; True when done (nothing to lock), False to go the locked way
        (nothing was written, the ops are reset)."""
        sql = self.sql.unlocked
        if sql is None or self.after_apply or not eligible(ops):
            return False
        if not self._contention.allows():
            return False
        try:
            outcome = await apply_unlocked(self, sql, ops, self.clock.now(), mine, before)
            if outcome == "applied":
                self._contention.record(moved=False)
                UNLOCKED_BATCHES.labels(outcome).inc()
                return True
        except Moved:
            self._contention.record(moved=True)
            outcome = "moved"
        except ReferenceTaken:
            outcome = "reference"
        except Exception as exc:  # nothing was written: the locked way settles it
            log.info("a batch of %d goes the locked way after %r", len(ops), exc)
            outcome = "error"
        UNLOCKED_BATCHES.labels(outcome).inc()
        for op in ops:
            op.reset()
        return False
