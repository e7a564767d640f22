"""Applying a batch's operations in memory, one by one, each all-or-nothing (no I/O here).

The engine reads and locks the balances a batch touches, then calls :func:`apply_op` for each
operation in arrival order. An operation works on copies of the balances and holds it touches and
keeps them only if every one of its steps succeeds, so a failing operation (insufficient funds, a
duplicate reference ...) leaves the batch exactly as if it had never been submitted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from tally.core.errors import (
    AlreadyRefunded,
    BalanceNotFound,
    DuplicateReference,
    InvalidAmount,
    NotRefundable,
    TallyError,
    TransactionInvalid,
    TransactionNotFound,
)
from tally.core.ledger import balances as rules
from tally.core.ledger.balances import BalanceState
from tally.core.ledger.holds import HoldState, commit_amount, plan_commit, plan_void
from tally.core.ledger.records import Kind, Status, TransactionRecord
from tally.core.ledger.refunds import check_refundable, plan_refund, refund_reference
from tally.core.ledger.transfers import TransferPlan

from .engine_ops import Commit, Op, Post, Refund, Step, Void

Indicators = Mapping[tuple[str, str], str]


@dataclass(slots=True)
class BatchState:
    """What one batch works on: locked balances, open holds, references already used."""

    states: dict[str, BalanceState]
    holds: dict[str, HoldState]
    taken: set[str]
    indicators: Indicators
    now: datetime
    before: dict[str, BalanceState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.before = {k: v.copy() for k, v in self.states.items()}

    def changed(self) -> dict[str, BalanceState]:
        return {k: v for k, v in self.states.items() if v.version != self.before[k].version}


def resolve(name: str, currency: str, indicators: Indicators) -> str:
    """A balance id for ``name``: indicators (``@World``) are looked up per currency."""
    if name.startswith("@"):
        return indicators.get((name, currency), name)
    return name


def balance_ids(ops: Iterable[Op], indicators: Indicators) -> set[str]:
    ids: set[str] = set()
    for op in ops:
        for plan in op.plans:
            for leg in plan.legs:
                ids.add(resolve(leg.source, plan.currency, indicators))
                ids.add(resolve(leg.destination, plan.currency, indicators))
        for targets in op.targets.values():
            for target in targets:
                ids.add(target.source)
                ids.add(target.destination)
    return ids


def planned_references(ops: Iterable[Op]) -> list[str]:
    """Every reference the batch's operations would write (checked against the store first)."""
    refs = [leg.reference for op in ops for plan in op.plans for leg in plan.legs]
    refs += [
        refund_reference(target.transaction_id)
        for op in ops
        for step in op.steps
        if isinstance(step, Refund)
        for target in op.targets[step.transaction_id]
    ]
    return refs


def open_hold_ids(ops: Iterable[Op]) -> list[str]:
    return sorted(
        {
            target.transaction_id
            for op in ops
            for step in op.steps
            if isinstance(step, Commit | Void)
            for target in op.targets[step.transaction_id]
        }
    )


def apply_op(op: Op, batch: BatchState) -> None:
    """Apply all of ``op``'s steps or none; raises the first business error."""
    work = _Work(batch.states, batch.holds)
    records: list[TransactionRecord] = []
    new_refs: set[str] = set()
    for index, step in enumerate(op.steps):
        for reference in _references_of(step, op):
            _check_reference(reference, batch.taken, step)
            _check_reference(reference, new_refs, step)
        if isinstance(step, Post):
            built = op.built.get(index)
            if built is None:
                built = post_records(step.plan, batch.indicators, batch.now)
            made = _post(step.plan, built, work)
        elif isinstance(step, Commit | Void):
            made = _settle_hold(step, op.targets[step.transaction_id], work, batch.now)
        else:
            made = _refund(step, op.targets[step.transaction_id], work, batch.now)
        for record in made:
            if record.reference in new_refs:
                raise DuplicateReference(
                    f"reference {record.reference} is used twice in one request"
                )
            _check_reference(record.reference, batch.taken, step)
            new_refs.add(record.reference)
        records.extend(made)
    work.keep()
    batch.taken.update(new_refs)
    op.records = records


def apply_all(ops: list[Op], batch: BatchState) -> list[Op]:
    """Apply ``ops`` in order, each all or nothing; returns those applied (the others have their
    business error set)."""
    done: list[Op] = []
    for op in ops:
        try:
            apply_op(op, batch)
            done.append(op)
        except TallyError as exc:
            op.fail(exc)
    return done


def _references_of(step: Step, op: Op) -> list[str]:
    if isinstance(step, Refund):
        return [refund_reference(t.transaction_id) for t in op.targets[step.transaction_id]]
    if isinstance(step, Post):
        return [leg.reference for leg in step.plan.legs]
    return []


def _check_reference(reference: str, taken: set[str], step: Step) -> None:
    if reference not in taken:
        return
    if isinstance(step, Refund):
        raise AlreadyRefunded(f"transaction {step.transaction_id} has already been refunded")
    raise DuplicateReference(f"reference {reference} has already been used")


def post_records(
    plan: TransferPlan, indicators: Indicators, now: datetime
) -> list[TransactionRecord]:
    """The rows a plan writes if it applies (built before the batch locks anything)."""
    status = (
        Status.SCHEDULED
        if plan.scheduled_for
        else (Status.INFLIGHT if plan.inflight else Status.APPLIED)
    )
    parent = plan.parent_transaction or (plan.transaction_id if plan.multi else None)
    return [
        TransactionRecord(
            transaction_id=leg.transaction_id,
            parent_transaction=parent,
            source=resolve(leg.source, plan.currency, indicators),
            destination=resolve(leg.destination, plan.currency, indicators),
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
        )
        for leg in plan.legs
    ]


def _post(
    plan: TransferPlan, records: list[TransactionRecord], work: _Work
) -> list[TransactionRecord]:
    for leg, record in zip(plan.legs, records, strict=True):
        source = work.balance(record.source, leg.source)
        destination = work.balance(record.destination, leg.destination)
        if source.balance_id == destination.balance_id:
            raise TransactionInvalid("source and destination cannot be the same balance")
        rules.check_currency(source, plan.currency)
        rules.check_currency(destination, plan.currency)
        if record.status == Status.APPLIED:
            rules.check_funds(source, leg.amount, plan.overdraft)
            rules.apply(source, destination, leg.amount)
        elif record.status == Status.INFLIGHT:
            rules.check_funds(source, leg.amount, plan.overdraft)
            rules.hold(source, destination, leg.amount)
    return records


def _settle_hold(
    step: Commit | Void, targets: list[TransactionRecord], work: _Work, now: datetime
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
    step: Refund, targets: list[TransactionRecord], work: _Work, now: datetime
) -> list[TransactionRecord]:
    if len(targets) == 1 and targets[0].status == Status.INFLIGHT:
        raise NotRefundable(
            f"transaction {targets[0].transaction_id} is an inflight hold; commit or void it "
            "instead of refunding it"
        )
    records = []
    for target in targets:
        check_refundable(target)
        record = plan_refund(
            target, now=now, description=step.description, meta_data=step.meta_data
        )
        source = work.balance(record.source, record.source)
        destination = work.balance(record.destination, record.destination)
        rules.check_funds(
            source, record.precise_amount, rules.Overdraft(allow=step.allow_overdraft)
        )
        rules.apply(source, destination, record.precise_amount)
        record.allow_overdraft = step.allow_overdraft
        records.append(record)
    return records


class _Work:
    """Working copies for one op: kept on success, dropped on failure."""

    __slots__ = ("_balances", "_hold_copies", "_holds", "_states")

    def __init__(self, states: dict[str, BalanceState], holds: dict[str, HoldState]) -> None:
        self._states = states
        self._holds = holds
        self._balances: dict[str, BalanceState] = {}
        self._hold_copies: dict[str, HoldState] = {}

    def balance(self, balance_id: str, name: str) -> BalanceState:
        state = self._balances.get(balance_id)
        if state is None:
            found = self._states.get(balance_id)
            if found is None:
                raise BalanceNotFound(
                    f"Balance with ID '{name}' not found", details={"balance_id": name}
                )
            state = self._balances[balance_id] = found.copy()
        return state

    def hold(self, transaction_id: str) -> HoldState:
        if transaction_id not in self._hold_copies:
            s = self._holds[transaction_id]
            self._hold_copies[transaction_id] = HoldState(s.hold, s.committed, s.voided, s.commits)
        return self._hold_copies[transaction_id]

    def keep(self) -> None:
        self._states.update(self._balances)
        self._holds.update(self._hold_copies)


def missing_target(step: Commit | Void | Refund) -> TallyError:
    """The error for a commit, void or refund naming a transaction that does not exist."""
    if isinstance(step, Refund):
        return TransactionNotFound(
            f"no transaction to refund: {step.transaction_id} does not exist"
        )
    return TransactionNotFound(f"transaction {step.transaction_id} not found")


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
