"""A batch in two trips to PostgreSQL: read, then one statement that writes only if nothing moved.

The locked way costs four round trips per batch (``BEGIN``, lock, write, ``COMMIT``), and every
trip's answer waits its turn in an event loop busy with other requests; meanwhile the batch's row
locks make every other batch on those balances wait. A batch made only of posts without extras
goes this way instead:

1. one statement, outside any transaction, reads the balances (no lock) and which of the batch's
   references are used already; for balances that batches of this process still in flight will
   change, the states those batches leave (``engine_queue.Claim``) replace what was read;
2. the operations are applied in memory by the same rules (``engine_apply``), and the states
   this batch leaves are published for the batches behind it; once the batches before it have
   committed (if one did not, this one goes the locked way),
3. one statement, its own transaction, inserts the rows and events and updates each changed
   balance **only where its version is still the one read**; it fails as a whole unless every
   balance matched (a concurrent writer moved one), so nothing is written partly.

If the write fails (a version moved, a reference another process took a moment ago), nothing was
written and the batch goes the locked way, which settles it exactly as before. Versions only go
up, so a write that starts from states that are not the committed ones fails its check: a wrong
start costs a retry, never a wrong balance. A batch that
changes a balance a monitor watches goes the locked way too, because the monitors' hook runs in
the batch's transaction. An operation that fails on the read (insufficient funds, a reference
already used) fails as it would have at that instant.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from .engine_apply import BatchState, apply_all, balance_ids, check_zero_sum, planned_references
from .engine_ops import Op, Post
from .engine_queue import Claim
from .engine_sql import UnlockedSql, driver_connection, events_for

if TYPE_CHECKING:
    from .engine import PostingEngine


class Contention:
    """How often two-trip writes lately found a balance moved by another process.

    When most of them do (several processes posting to one hot balance), the failed attempts are
    wasted trips: batches then take the locked way for ``PAUSE`` batches, and try again."""

    PAUSE = 16
    WEIGHT = 0.1  # of the latest outcome in the moving average
    LIMIT = 0.5

    __slots__ = ("paused", "rate")

    def __init__(self) -> None:
        self.rate = 0.0
        self.paused = 0

    def allows(self) -> bool:
        if self.paused:
            self.paused -= 1
            return False
        return True

    def record(self, moved: bool) -> None:
        self.rate = (1 - self.WEIGHT) * self.rate + (self.WEIGHT if moved else 0.0)
        if self.rate > self.LIMIT:
            self.paused = self.PAUSE


def eligible(ops: list[Op]) -> bool:
    """Posts only, no ``extra``: nothing but the engine's own rows."""
    return all(op.extra is None and all(type(s) is Post for s in op.steps) for op in ops)


async def apply_unlocked(
    engine: PostingEngine,
    sql: UnlockedSql,
    ops: list[Op],
    now: datetime,
    mine: Claim,
    before: list[Claim],
) -> str:
    """Apply ``ops`` in two trips: ``"applied"``, or why they must go the locked way with nothing
    written: ``"watched"`` (a watched balance changed) or ``"behind"`` (a batch before this one
    went the locked way or did not commit).

    ``before``: the claims of this process's batches in flight on the same balances, oldest
    first. Their states (once applied in memory) replace what the read found for the balances
    they change, and the write is sent once they have committed, so the two writes run back to
    back; if one of them did not commit, this batch goes the locked way. ``mine`` is published
    for the batches after this one. Raises what the checked write raised (``Moved``, a taken
    reference ...): nothing written."""
    indicators = engine.indicators
    ids = sorted(balance_ids(ops, indicators))
    async with engine.db.single_statements() as conn:
        driver = await driver_connection(conn)
        states, taken = await sql.peek(driver, ids, planned_references(ops))
        pending: set[str] = set()
        for claim in before:
            prior = await claim.applied
            if prior is None:
                return "behind"
            for balance_id, state in prior.items():
                if balance_id in states:
                    states[balance_id] = state.copy()
                    pending.add(balance_id)
        batch = BatchState(states, {}, taken, indicators, now)
        done = apply_all(ops, batch)
        changed = batch.changed()
        if engine.after_apply_watched and any(s.monitored for s in changed.values()):
            return "watched"
        mine.publish({k: batch.states[k].copy() for k in pending | changed.keys()})
        records = [r for op in done for r in op.records]
        if records:
            check_zero_sum(batch.before, changed)
        for claim in before:
            if not await claim.written:
                return "behind"
        if records:
            built = {k: v for op in done for k, v in op.events.items()}
            encoded = {k: v for op in done for k, v in op.encoded.items()}
            await sql.write_checked(
                driver,
                records,
                [(changed[k], batch.before[k].version) for k in sorted(changed)],
                events_for(records, built, now),
                encoded,
            )
        mine.settle(written=True)
        return "applied"
