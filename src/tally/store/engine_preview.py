"""Dry runs: what the engine would do with some operations now, with nothing locked or written.

The preview runs the very rules a real batch runs (``engine_apply``) on a plain read of the
balances, holds and references involved, in one read transaction. Nothing is created: an indicator
balance (``@World``) that does not exist yet is projected as a zeroed, ``virtual`` balance; no
reference is consumed; no event is emitted. Several operations previewed together are cumulative:
each sees the balances as the ones before it would leave them, exactly as in one batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tally.core.errors import TallyError
from tally.core.ledger.balances import BalanceState
from tally.core.ledger.records import TransactionRecord

from .engine_apply import (
    BatchState,
    apply_op,
    balance_ids,
    missing_target,
    planned_references,
    resolve,
)
from .engine_ops import Op, Post, Refund, Step
from .engine_sql import hold_states

if TYPE_CHECKING:
    from .engine import PostingEngine


@dataclass(slots=True)
class Preview:
    """The outcome one operation would have: its rows, or the error a real call would raise."""

    steps: list[Step]
    records: list[TransactionRecord] = field(default_factory=list)
    error: TallyError | None = None
    before: dict[str, BalanceState] = field(default_factory=dict)
    after: dict[str, BalanceState] = field(default_factory=dict)
    virtual: set[str] = field(default_factory=set)
    roles: dict[str, str] = field(default_factory=dict)  # balance key -> source | destination

    @property
    def would_apply(self) -> bool:
        return self.error is None


async def preview_steps(engine: PostingEngine, steps: list[Step]) -> Preview:
    return (await preview_batch(engine, [steps]))[0]


async def preview_batch(engine: PostingEngine, groups: list[list[Step]]) -> list[Preview]:
    """Preview each group of steps as one all-or-nothing operation, in order, cumulatively."""
    ops = [Op(list(steps)) for steps in groups]
    previews = [Preview(op.steps) for op in ops]
    await _targets(engine, ops, previews)
    live = [(op, p) for op, p in zip(ops, previews, strict=True) if p.error is None]
    if not live:
        return previews
    async with engine.db.read() as conn:
        wanted = engine.unknown_indicators([op for op, _ in live])
        if wanted:
            await engine.read_indicators(conn, wanted)
        indicators = dict(engine.indicators)
        virtual = _virtual_indicators(wanted, indicators)
        ids = balance_ids([op for op, _ in live], indicators)
        states = await engine.sql.read(conn, sorted(ids - virtual.keys()))
        states.update(virtual)
        taken = await engine.sql.taken(conn, planned_references([op for op, _ in live]))
        holds = await hold_states(conn, [op for op, _ in live])
    batch = BatchState(states, holds, taken, indicators, engine.clock.now())
    for op, preview in live:
        touched = balance_ids([op], indicators) & states.keys()
        preview.before = {k: batch.states[k].copy() for k in touched}
        preview.virtual = touched & virtual.keys()
        try:
            apply_op(op, batch)
            preview.records = op.records
        except TallyError as exc:
            preview.error = exc
        preview.after = {k: batch.states[k].copy() for k in touched}
        preview.roles = _roles(op, indicators, preview.records)
    return previews


def _roles(
    op: Op, indicators: dict[tuple[str, str], str], records: list[TransactionRecord]
) -> dict[str, str]:
    """Which side of the movement each balance is on (the rows' sides first, then the request's)."""
    sides: list[tuple[str, str]] = []
    for record in records:
        sides += [(record.source, record.destination)]
    for step in op.steps:
        if isinstance(step, Post):
            currency = step.plan.currency
            sides += [
                (
                    resolve(leg.source, currency, indicators),
                    resolve(leg.destination, currency, indicators),
                )
                for leg in step.plan.legs
            ]
        else:
            for target in op.targets.get(step.transaction_id, []):
                pair = (target.source, target.destination)
                sides.append(pair[::-1] if isinstance(step, Refund) else pair)
    roles: dict[str, str] = {}
    for source, destination in sides:
        roles.setdefault(source, "source")
        roles.setdefault(destination, "destination")
    return roles


async def _targets(engine: PostingEngine, ops: list[Op], previews: list[Preview]) -> None:
    ids = {tid for op in ops for tid in op.target_ids}
    if not ids:
        return
    found = await engine.load_targets(ids)
    for op, preview in zip(ops, previews, strict=True):
        for step in op.steps:
            if isinstance(step, Post):
                continue
            op.targets[step.transaction_id] = found.get(step.transaction_id, [])
            if not op.targets[step.transaction_id]:
                preview.error = missing_target(step)
                break


def _virtual_indicators(
    wanted: set[tuple[str, str]], indicators: dict[tuple[str, str], str]
) -> dict[str, BalanceState]:
    """Indicator balances the operations name that do not exist yet, zeroed (as created)."""
    virtual: dict[str, BalanceState] = {}
    for name, currency in wanted:
        if (name, currency) in indicators:
            continue
        key = f"{name}|{currency}"
        indicators[(name, currency)] = key
        virtual[key] = BalanceState(
            balance_id=key, currency=currency, allow_overdraft=True, indicator=name
        )
    return virtual
