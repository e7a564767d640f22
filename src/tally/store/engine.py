"""The posting engine: every movement of value goes through here, in batches (group commit).

Concurrent requests put operations on a queue. A flusher takes whatever is waiting (up to
``max_batch``) and applies it in **one** database transaction:

1. indicator balances (``@World``) named for the first time are created (their own short
   transaction, so creating one never waits behind a batch's row locks);
2. every balance the batch touches is locked once, in ``balance_id`` order (no deadlocks between
   processes), and read;
3. references are checked against the database and within the batch;
4. operations are applied in memory one by one, each all-or-nothing: one that fails (insufficient
   funds, duplicate reference ...) gets its own error and leaves the others untouched;
5. transaction rows, balance updates (one statement on PostgreSQL) and outbox events are written,
   and the transaction commits; each caller gets its own outcome.

If the write itself fails (a reference taken by another process a moment ago, an extension's SQL
raising), the batch is replayed one operation at a time so that only the culprit fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.clock import Clock, SystemClock
from tally.core.errors import (
    AlreadyRefunded,
    BalanceNotFound,
    DuplicateReference,
    InvalidAmount,
    NotInflight,
    TallyError,
    TransactionInvalid,
    TransactionNotFound,
    Unavailable,
)
from tally.core.ids import GENERAL_LEDGER_ID, new_id
from tally.core.ledger import balances as rules
from tally.core.ledger.balances import BalanceState
from tally.core.ledger.holds import HoldState, commit_amount, plan_commit, plan_void
from tally.core.ledger.records import BalanceRecord, Kind, Status, TransactionRecord
from tally.core.ledger.refunds import check_refundable, plan_refund, refund_reference
from tally.core.ledger.transfers import TransferPlan
from tally.core.ledger.views import balance_view

from . import tables as t
from .database import Database
from .outbox import event_row, transaction_event
from .rows import STATE_COLUMNS, state_from_row, transaction_from_row, transaction_to_row

log = logging.getLogger("tally.engine")

Extra = Callable[[AsyncConnection, list[TransactionRecord]], Awaitable[None]]
AfterApply = Callable[
    [AsyncConnection, dict[str, BalanceState], dict[str, BalanceState], datetime],
    Awaitable[None],
]


class EngineStopped(Unavailable):
    """The engine is shutting down and takes no new work."""

    code = "GEN_UNAVAILABLE"


@dataclass(slots=True)
class Post:
    """Post a checked transfer plan (applied, held or scheduled)."""

    plan: TransferPlan


@dataclass(slots=True)
class Commit:
    """Commit all (``amount``/``precise_amount`` None) or part of a hold."""

    transaction_id: str
    amount: Any = None
    precise_amount: Any = None
    meta_data: dict[str, Any] | None = None


@dataclass(slots=True)
class Void:
    """Release what remains of a hold."""

    transaction_id: str
    meta_data: dict[str, Any] | None = None


@dataclass(slots=True)
class Refund:
    """Reverse an applied transaction (once)."""

    transaction_id: str
    description: str | None = None
    meta_data: dict[str, Any] | None = None
    allow_overdraft: bool = False


Step = Post | Commit | Void | Refund


@dataclass(eq=False)
class Op:
    """One caller's request: its steps are applied together or not at all."""

    steps: list[Step]
    extra: Extra | None = None
    future: asyncio.Future[list[TransactionRecord]] | None = None
    # filled while the batch runs
    targets: dict[str, list[TransactionRecord]] = field(default_factory=dict)
    error: BaseException | None = None
    records: list[TransactionRecord] = field(default_factory=list)

    @property
    def plans(self) -> list[TransferPlan]:
        return [step.plan for step in self.steps if isinstance(step, Post)]

    @property
    def target_ids(self) -> list[str]:
        return [step.transaction_id for step in self.steps if not isinstance(step, Post)]


class PostingEngine:
    def __init__(
        self,
        db: Database,
        *,
        clock: Clock | None = None,
        max_batch: int = 500,
        flushers: int | None = None,
    ) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.max_batch = max_batch
        self.flushers = flushers or (2 if db.is_postgres else 1)
        self.after_apply: list[AfterApply] = []
        self._queue: asyncio.Queue[Op] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._indicators: dict[tuple[str, str], str] = {}
        self._running = False
        self._loop: asyncio.AbstractEventLoop | None = None
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
        self._running = False
        while not self._queue.empty():
            await asyncio.sleep(0.005)
            if all(task.done() for task in self._tasks):
                break
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # ---- public operations ----------------------------------------------------------------

    async def execute(
        self, steps: list[Step], *, extra: Extra | None = None
    ) -> list[TransactionRecord]:
        """Apply ``steps`` atomically (with ``extra`` in the same database transaction)."""
        return await self.submit(Op(list(steps), extra=extra))

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

    async def submit(self, op: Op) -> list[TransactionRecord]:
        if not self._running or self._loop is not asyncio.get_running_loop():
            await self.run([op])
        else:
            op.future = asyncio.get_running_loop().create_future()
            self._queue.put_nowait(op)
            await op.future
        if op.error is not None:
            raise op.error
        return op.records

    # ---- batching -------------------------------------------------------------------------

    async def _flusher(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self.run(batch)
            except BaseException as exc:  # never lose a caller: everyone gets an answer
                for op in batch:
                    if op.error is None and not op.records:
                        op.error = exc
                if isinstance(exc, asyncio.CancelledError):
                    self._settle(batch)
                    raise
            self._settle(batch)

    @staticmethod
    def _settle(batch: Sequence[Op]) -> None:
        for op in batch:
            if op.future is not None and not op.future.done():
                op.future.set_result(op.records)

    async def run(self, batch: list[Op]) -> None:
        """Apply ``batch``; every op ends with ``records`` or ``error`` set."""
        self.batches += 1
        self.ops += len(batch)
        live = await self._prepare(batch)
        if not live:
            return
        try:
            await self._apply(live)
        except TallyError as exc:
            if len(live) == 1:
                self._fail(live[0], exc)
            else:
                await self._one_by_one(live)
        except sa.exc.DBAPIError as exc:
            if len(live) == 1:
                self._fail(live[0], self._translate(exc))
            else:
                await self._one_by_one(live)

    async def _one_by_one(self, ops: list[Op]) -> None:
        for op in ops:
            op.records = []
            op.error = None
            try:
                await self._apply([op])
            except TallyError as exc:
                self._fail(op, exc)
            except sa.exc.DBAPIError as exc:
                self._fail(op, self._translate(exc))

    @staticmethod
    def _fail(op: Op, exc: BaseException) -> None:
        op.records = []
        op.error = exc

    @staticmethod
    def _translate(exc: sa.exc.DBAPIError) -> BaseException:
        text = str(exc.orig) if exc.orig is not None else str(exc)
        if isinstance(exc, sa.exc.IntegrityError) and "reference" in text:
            return DuplicateReference("reference has already been used")
        return exc

    # ---- step 1: resolve names and targets outside the write transaction -------------------

    async def _prepare(self, batch: list[Op]) -> list[Op]:
        wanted: set[tuple[str, str]] = set()
        for op in batch:
            for plan in op.plans:
                for leg in plan.legs:
                    for name in (leg.source, leg.destination):
                        if name.startswith("@") and (name, plan.currency) not in self._indicators:
                            wanted.add((name, plan.currency))
        if wanted:
            await self._ensure_indicators(wanted)
        targets = {tid for op in batch for tid in op.target_ids}
        if targets:
            found = await self._load_targets(targets)
            for op in batch:
                for step in op.steps:
                    if isinstance(step, Post):
                        continue
                    op.targets[step.transaction_id] = found.get(step.transaction_id, [])
                    if not op.targets[step.transaction_id]:
                        self._fail(op, self._missing_target(step))
                        break
        return [op for op in batch if op.error is None]

    @staticmethod
    def _missing_target(step: Step) -> TallyError:
        if isinstance(step, Refund):
            return TransactionNotFound(
                f"no transaction to refund: {step.transaction_id} does not exist")
        return TransactionNotFound(f"transaction {step.transaction_id} not found")

    async def _ensure_indicators(self, wanted: set[tuple[str, str]]) -> None:
        now = self.clock.now()
        async with self.db.write() as conn:
            await self._read_indicators(conn, wanted)
            missing = [key for key in wanted if key not in self._indicators]
            created: list[BalanceRecord] = []
            for indicator, currency in sorted(missing):
                record = BalanceRecord(
                    balance_id=new_id("bln"), ledger_id=GENERAL_LEDGER_ID, currency=currency,
                    created_at=now, indicator=indicator, allow_overdraft=True,
                )
                insert = _insert_ignore(self.db, t.balances).values(**balance_row(record))
                result = await conn.execute(insert)
                if result.rowcount:
                    created.append(record)
            if created:
                await conn.execute(
                    t.events.insert(),
                    [event_row("balance.created", balance_view(r), now=now, subject_id=r.balance_id)
                     for r in created],
                )
            await self._read_indicators(conn, wanted)

    async def _read_indicators(self, conn: AsyncConnection, wanted: set[tuple[str, str]]) -> None:
        names = sorted({name for name, _ in wanted})
        rows = await conn.execute(
            sa.select(t.balances.c.indicator, t.balances.c.currency, t.balances.c.balance_id)
            .where(t.balances.c.indicator.in_(names))
        )
        for indicator, currency, balance_id in rows:
            self._indicators[(indicator, currency)] = balance_id

    async def _load_targets(self, ids: set[str]) -> dict[str, list[TransactionRecord]]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                sa.select(t.transactions).where(t.transactions.c.transaction_id.in_(sorted(ids)))
            )
            found = {r.transaction_id: [transaction_from_row(r)] for r in rows}
            groups = ids - found.keys()
            if groups:
                rows = await conn.execute(
                    sa.select(t.transactions)
                    .where(t.transactions.c.parent_transaction.in_(sorted(groups)))
                    .where(t.transactions.c.kind == Kind.TRANSFER)
                    .order_by(t.transactions.c.id)
                )
                for r in rows:
                    found.setdefault(r.parent_transaction, []).append(transaction_from_row(r))
        return found

    # ---- step 2..5: one write transaction -------------------------------------------------

    async def _apply(self, ops: list[Op]) -> None:
        now = self.clock.now()
        async with self.db.write() as conn:
            states = await self._lock(conn, self._balance_ids(ops))
            before = {k: v.copy() for k, v in states.items()}
            taken = await self._taken_references(conn, ops)
            holds = await self._hold_states(conn, ops)
            done: list[Op] = []
            for op in ops:
                try:
                    self._apply_op(op, states, holds, taken, now)
                    done.append(op)
                except TallyError as exc:
                    self._fail(op, exc)
            records = [r for op in done for r in op.records]
            if not records:
                return
            changed = {k: v for k, v in states.items() if v.version != before[k].version}
            check_zero_sum(before, changed)
            await conn.execute(t.transactions.insert(), [transaction_to_row(r) for r in records])
            await self._write_balances(conn, changed)
            await conn.execute(t.events.insert(), [transaction_event(r, now=now) for r in records])
            for hook in self.after_apply:
                await hook(conn, {k: before[k] for k in changed}, changed, now)
            for op in done:
                if op.extra is not None:
                    await op.extra(conn, op.records)

    def _balance_ids(self, ops: list[Op]) -> set[str]:
        ids: set[str] = set()
        for op in ops:
            for plan in op.plans:
                for leg in plan.legs:
                    ids.add(self._resolve(leg.source, plan.currency))
                    ids.add(self._resolve(leg.destination, plan.currency))
            for targets in op.targets.values():
                for target in targets:
                    ids.update((target.source, target.destination))
        return ids

    def _resolve(self, name: str, currency: str) -> str:
        if name.startswith("@"):
            return self._indicators.get((name, currency), name)
        return name

    async def _lock(self, conn: AsyncConnection, ids: set[str]) -> dict[str, BalanceState]:
        query = (
            sa.select(*STATE_COLUMNS)
            .where(t.balances.c.balance_id.in_(sorted(ids)))
            .order_by(t.balances.c.balance_id)
        )
        if self.db.is_postgres:
            query = query.with_for_update()
        rows = await conn.execute(query)
        return {row.balance_id: state_from_row(row) for row in rows}

    async def _taken_references(self, conn: AsyncConnection, ops: list[Op]) -> set[str]:
        refs = [leg.reference for op in ops for plan in op.plans for leg in plan.legs]
        refs += [refund_reference(target.transaction_id) for op in ops for step in op.steps
                 if isinstance(step, Refund) for target in op.targets[step.transaction_id]]
        if not refs:
            return set()
        rows = await conn.execute(
            sa.select(t.transactions.c.reference).where(t.transactions.c.reference.in_(refs))
        )
        return {row.reference for row in rows}

    async def _hold_states(self, conn: AsyncConnection, ops: list[Op]) -> dict[str, HoldState]:
        holds = {
            target.transaction_id: HoldState(target)
            for op in ops for step in op.steps if isinstance(step, Commit | Void)
            for target in op.targets[step.transaction_id]
        }
        if not holds:
            return holds
        tx = t.transactions.c
        rows = await conn.execute(
            sa.select(tx.parent_transaction, tx.kind, sa.func.count(), tx.precise_amount)
            .where(tx.parent_transaction.in_(sorted(holds)))
            .where(tx.kind.in_([Kind.COMMIT, Kind.VOID]))
            .group_by(tx.parent_transaction, tx.kind, tx.precise_amount)
        )
        for parent, kind, count, amount in rows:
            state = holds[parent]
            if kind == Kind.COMMIT:
                state.committed += amount * count
                state.commits += count
            else:
                state.voided += amount * count
        return holds

    # ---- applying one op in memory ---------------------------------------------------------

    def _apply_op(
        self,
        op: Op,
        states: dict[str, BalanceState],
        holds: dict[str, HoldState],
        taken: set[str],
        now: datetime,
    ) -> None:
        work = _Work(states, holds)
        records: list[TransactionRecord] = []
        new_refs: set[str] = set()
        for step in op.steps:
            for reference in self._planned_references(step, op):
                self._check_reference(reference, taken | new_refs, step)
            if isinstance(step, Post):
                made = self._post(step.plan, work, now)
            elif isinstance(step, Commit | Void):
                made = self._settle_hold(step, op.targets[step.transaction_id], work, now)
            else:
                made = self._refund(step, op.targets[step.transaction_id], work, now)
            for record in made:
                if record.reference in new_refs:
                    raise DuplicateReference(
                        f"reference {record.reference} is used twice in one request")
                self._check_reference(record.reference, taken, step)
                new_refs.add(record.reference)
            records.extend(made)
        work.keep()
        taken.update(new_refs)
        op.records = records

    @staticmethod
    def _planned_references(step: Step, op: Op) -> list[str]:
        if isinstance(step, Refund):
            return [refund_reference(t.transaction_id) for t in op.targets[step.transaction_id]]
        if isinstance(step, Post):
            return [leg.reference for leg in step.plan.legs]
        return []

    @staticmethod
    def _check_reference(reference: str, taken: set[str], step: Step) -> None:
        if reference not in taken:
            return
        if isinstance(step, Refund):
            raise AlreadyRefunded(f"transaction {step.transaction_id} has already been refunded")
        raise DuplicateReference(f"reference {reference} has already been used")

    def _post(self, plan: TransferPlan, work: _Work, now: datetime) -> list[TransactionRecord]:
        status = Status.SCHEDULED if plan.scheduled_for else (
            Status.INFLIGHT if plan.inflight else Status.APPLIED)
        parent = plan.parent_transaction or (plan.transaction_id if plan.multi else None)
        records = []
        for leg in plan.legs:
            source = work.balance(self._resolve(leg.source, plan.currency), leg.source)
            destination = work.balance(
                self._resolve(leg.destination, plan.currency), leg.destination)
            if source.balance_id == destination.balance_id:
                raise TransactionInvalid("source and destination cannot be the same balance")
            rules.check_currency(source, plan.currency)
            rules.check_currency(destination, plan.currency)
            if status == Status.APPLIED:
                rules.check_funds(source, leg.amount, plan.overdraft)
                rules.apply(source, destination, leg.amount)
            elif status == Status.INFLIGHT:
                rules.check_funds(source, leg.amount, plan.overdraft)
                rules.hold(source, destination, leg.amount)
            records.append(TransactionRecord(
                transaction_id=leg.transaction_id,
                parent_transaction=parent,
                source=source.balance_id,
                destination=destination.balance_id,
                reference=leg.reference,
                precise_amount=leg.amount,
                precision=plan.precision,
                currency=plan.currency,
                status=status,
                kind=Kind.TRANSFER,
                created_at=now,
                effective_date=plan.effective_date or now,
                description=plan.description,
                meta_data=dict(plan.meta_data),
                allow_overdraft=plan.overdraft.allow,
                overdraft_limit=plan.overdraft.limit,
                inflight=plan.inflight,
                atomic=plan.atomic,
                scheduled_for=plan.scheduled_for,
                inflight_expiry_date=plan.inflight_expiry_date,
            ))
        return records

    def _settle_hold(
        self, step: Commit | Void, targets: list[TransactionRecord], work: _Work, now: datetime
    ) -> list[TransactionRecord]:
        records = []
        several = len(targets) > 1
        for target in targets:
            state = work.hold(target.transaction_id)
            source = work.balance(target.source, target.source)
            destination = work.balance(target.destination, target.destination)
            if isinstance(step, Commit):
                amount = commit_amount(target, step.amount, step.precise_amount)
                if amount is not None and several:
                    raise InvalidAmount(
                        f"{step.transaction_id} is a group of {len(targets)} holds; commit each "
                        "hold by its own id to commit part of it"
                    )
                record = plan_commit(state, amount, now=now, meta_data=step.meta_data)
                rules.commit(source, destination, record.precise_amount)
            else:
                record = plan_void(state, now=now, meta_data=step.meta_data)
                rules.release(source, destination, record.precise_amount)
            records.append(record)
        return records

    def _refund(
        self, step: Refund, targets: list[TransactionRecord], work: _Work, now: datetime
    ) -> list[TransactionRecord]:
        if len(targets) == 1 and targets[0].status == Status.INFLIGHT:
            raise NotInflight(
                f"transaction {targets[0].transaction_id} is an inflight hold; commit or void it "
                "instead of refunding it"
            )
        records = []
        for target in targets:
            check_refundable(target)
            record = plan_refund(target, now=now, description=step.description,
                                 meta_data=step.meta_data)
            source = work.balance(record.source, record.source)
            destination = work.balance(record.destination, record.destination)
            rules.check_funds(source, record.precise_amount,
                              rules.Overdraft(allow=step.allow_overdraft))
            rules.apply(source, destination, record.precise_amount)
            record.allow_overdraft = step.allow_overdraft
            records.append(record)
        return records

    # ---- writing --------------------------------------------------------------------------

    async def _write_balances(self, conn: AsyncConnection, changed: dict[str, BalanceState]) -> None:
        ordered = [changed[k] for k in sorted(changed)]
        if self.db.is_postgres:
            await conn.execute(_PG_UPDATE, {
                "ids": [s.balance_id for s in ordered],
                "credit": [Decimal(s.credit_balance) for s in ordered],
                "debit": [Decimal(s.debit_balance) for s in ordered],
                "icredit": [Decimal(s.inflight_credit_balance) for s in ordered],
                "idebit": [Decimal(s.inflight_debit_balance) for s in ordered],
                "version": [s.version for s in ordered],
            })
            return
        await conn.execute(
            t.balances.update().where(t.balances.c.balance_id == sa.bindparam("b_id")),
            [
                {
                    "b_id": s.balance_id,
                    "credit_balance": s.credit_balance,
                    "debit_balance": s.debit_balance,
                    "balance": s.balance,
                    "inflight_credit_balance": s.inflight_credit_balance,
                    "inflight_debit_balance": s.inflight_debit_balance,
                    "inflight_balance": s.inflight_balance,
                    "version": s.version,
                }
                for s in ordered
            ],
        )


class _Work:
    """Working copies for one op: kept on success, dropped on failure."""

    def __init__(self, states: dict[str, BalanceState], holds: dict[str, HoldState]) -> None:
        self._states = states
        self._holds = holds
        self._balances: dict[str, BalanceState] = {}
        self._hold_copies: dict[str, HoldState] = {}

    def balance(self, balance_id: str, name: str) -> BalanceState:
        if balance_id not in self._balances:
            state = self._states.get(balance_id)
            if state is None:
                raise BalanceNotFound(f"Balance with ID '{name}' not found",
                                      details={"balance_id": name})
            self._balances[balance_id] = state.copy()
        return self._balances[balance_id]

    def hold(self, transaction_id: str) -> HoldState:
        if transaction_id not in self._hold_copies:
            s = self._holds[transaction_id]
            self._hold_copies[transaction_id] = HoldState(s.hold, s.committed, s.voided, s.commits)
        return self._hold_copies[transaction_id]

    def keep(self) -> None:
        self._states.update(self._balances)
        self._holds.update(self._hold_copies)


def check_zero_sum(before: dict[str, BalanceState], changed: dict[str, BalanceState]) -> None:
    """The simulated commit check (SQLite has no statement triggers on transition tables)."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for balance_id, after in changed.items():
        old = before[balance_id]
        totals[after.currency][0] += after.balance - old.balance
        totals[after.currency][1] += after.inflight_balance - old.inflight_balance
    for currency, (net, inflight) in totals.items():
        if net or inflight:
            raise AssertionError(f"ledger out of balance in {currency}: {net} / {inflight}")


def balance_row(record: BalanceRecord) -> dict[str, Any]:
    return {
        "balance_id": record.balance_id,
        "ledger_id": record.ledger_id,
        "identity_id": record.identity_id,
        "indicator": record.indicator,
        "currency": record.currency,
        "allow_overdraft": record.allow_overdraft,
        "balance": 0,
        "credit_balance": 0,
        "debit_balance": 0,
        "inflight_balance": 0,
        "inflight_credit_balance": 0,
        "inflight_debit_balance": 0,
        "version": 0,
        "created_at": record.created_at,
        "meta_data": record.meta_data,
    }


def _insert_ignore(db: Database, table: sa.Table) -> Any:
    if db.is_postgres:
        return postgresql.insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table).on_conflict_do_nothing()


_PG_UPDATE = sa.text(
    """
    UPDATE balances AS b SET
      credit_balance = v.credit, debit_balance = v.debit,
      balance = v.credit - v.debit,
      inflight_credit_balance = v.icredit, inflight_debit_balance = v.idebit,
      inflight_balance = v.icredit - v.idebit,
      version = v.version
    FROM unnest(:ids, :credit, :debit, :icredit, :idebit, :version)
      AS v(id, credit, debit, icredit, idebit, version)
    WHERE b.balance_id = v.id
    """
).bindparams(
    sa.bindparam("ids", type_=postgresql.ARRAY(sa.Text)),
    sa.bindparam("credit", type_=postgresql.ARRAY(sa.Numeric)),
    sa.bindparam("debit", type_=postgresql.ARRAY(sa.Numeric)),
    sa.bindparam("icredit", type_=postgresql.ARRAY(sa.Numeric)),
    sa.bindparam("idebit", type_=postgresql.ARRAY(sa.Numeric)),
    sa.bindparam("version", type_=postgresql.ARRAY(sa.BigInteger)),
)
