"""The engine's waiting operations, and how a flusher picks its batch from them.

Two batches that touch a common balance cannot write at the same time: the second waits for the
first's row locks until it commits, and PostgreSQL's work on the two runs one after the other. So
a flusher forming a batch while another batch is being applied prefers the operations that touch
none of that batch's balances (*free* ones): the two batches then lock, write and commit side by
side, on two database connections. An operation passed over is put back at the front of the
queue, marked, and the next flusher takes it whatever it touches, so nothing waits more than one
batch longer. When most of what waits conflicts (every transfer from one hot ``@Store``), passing
over would only make small batches, so the flusher takes everything, as if it did not look.

Which balances an operation touches is known before its batch is prepared only for posts (their
legs, with indicator names resolved when already known); commits, voids and refunds name rows
read later, so they count as free. The choice only decides who waits for whom: row locks, taken
in one order, keep every batch correct whatever it holds.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Mapping

from tally.core.ledger.balances import BalanceState

from .engine_ops import Op, Post

Indicators = Mapping[tuple[str, str], str]

# An op is passed over at most this many times, then taken whatever it touches. Between random
# balances a conflict repeats rarely (a batch of 500 transfers over 10,000 balances holds a
# tenth of them: about one op in five conflicts, one in 15,000 six times running); an op that
# keeps conflicting waits at most this many batches, about as long as it would wait for locks.
MAX_PASSES = 6


class OpQueue:
    """FIFO of waiting operations, with ``put_back`` to the front (an asyncio.Queue has none)."""

    def __init__(self) -> None:
        self._items: deque[Op] = deque()
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._unfinished = 0

    def put_nowait(self, op: Op) -> None:
        self._items.append(op)
        self._unfinished += 1
        self._idle.clear()
        self._ready.set()

    def put_back(self, ops: list[Op]) -> None:
        """Return ``ops`` (taken, not finished) to the front of the queue, in their order."""
        self._items.extendleft(reversed(ops))
        if ops:
            self._ready.set()

    async def get(self) -> Op:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def get_nowait(self) -> Op:
        return self._items.popleft()

    def empty(self) -> bool:
        return not self._items

    def __len__(self) -> int:
        return len(self._items)

    def task_done(self) -> None:
        self._unfinished -= 1
        if self._unfinished <= 0:
            self._idle.set()

    async def join(self) -> None:
        await self._idle.wait()


class Claim:
    """One batch's place in line: what it will leave its balances at, and whether it wrote.

    ``applied`` resolves to the states the batch leaves behind for the balances it changed (or
    took from the batches before it), once applied in memory, or to None if it takes the locked
    way; ``written`` to whether its two-trip write committed. A later batch on the same balances
    starts from those states and sends its own write only once this one has committed
    (``engine_optimistic``), so PostgreSQL runs the two writes back to back."""

    __slots__ = ("applied", "seq", "written")

    def __init__(self, seq: int) -> None:
        self.seq = seq
        loop = asyncio.get_running_loop()
        self.applied: asyncio.Future[dict[str, BalanceState] | None] = loop.create_future()
        self.written: asyncio.Future[bool] = loop.create_future()

    def publish(self, states: dict[str, BalanceState]) -> None:
        if not self.applied.done():
            self.applied.set_result(states)

    def settle(self, written: bool = False) -> None:
        """Resolve whatever is still open (a batch that went the locked way, or failed)."""
        if not self.applied.done():
            self.applied.set_result(None)
        if not self.written.done():
            self.written.set_result(written)


class Held:
    """The balances of the batches being applied now, each with the latest batch's claim."""

    def __init__(self) -> None:
        self._by_balance: dict[str, Claim] = {}
        self._seq = 0

    def __bool__(self) -> bool:
        return bool(self._by_balance)

    def __contains__(self, balance_id: object) -> bool:
        return balance_id in self._by_balance

    def isdisjoint(self, ids: Iterable[str]) -> bool:
        return not any(i in self._by_balance for i in ids)

    def claim(self, ids: set[str]) -> tuple[Claim, list[Claim]]:
        """Hold ``ids`` for a new batch: its claim, and the claims of the batches being applied
        on any of them, oldest first."""
        self._seq += 1
        mine = Claim(self._seq)
        before: dict[int, Claim] = {}
        by_balance = self._by_balance
        for balance_id in ids:
            other = by_balance.get(balance_id)
            if other is not None:
                before[other.seq] = other
            by_balance[balance_id] = mine
        return mine, [before[k] for k in sorted(before)]

    def release(self, ids: set[str], mine: Claim) -> None:
        """``mine``'s batch is done: its balances are free unless a later batch holds them."""
        by_balance = self._by_balance
        for balance_id in ids:
            if by_balance.get(balance_id) is mine:
                del by_balance[balance_id]
        mine.settle()


def touches(op: Op, indicators: Indicators) -> set[str]:
    """The balances ``op``'s posts name (an indicator by its id once known, else its name).

    Kept on the op once every name is an id: a flusher asks when it picks the op and again
    when it claims the batch."""
    if op.touched is not None:
        return op.touched
    found: set[str] = set()
    named = False
    for step in op.steps:
        if type(step) is Post:
            plan = step.plan
            for leg in plan.legs:
                for name in (leg.source, leg.destination):
                    if name.startswith("@"):
                        name = indicators.get((name, plan.currency), name)
                        named = named or name.startswith("@")
                    found.add(name)
    if not named:
        op.touched = found
    return found


def drain(
    queue: OpQueue,
    batch: list[Op],
    weight: int,
    max_batch: int,
    held: Held,
    indicators: Indicators,
) -> int:
    """Move waiting ops into ``batch`` up to ``max_batch`` rows; returns the new weight.

    While ``held`` names balances of other batches, ops touching one are passed over (put back,
    marked) when the free ops are the majority of what was looked at."""
    if not held:
        while weight < max_batch and not queue.empty():
            op = queue.get_nowait()
            batch.append(op)
            weight += op.weight
        return weight
    seen: list[Op] = []
    blocked: list[Op] = []
    free_weight = seen_weight = 0
    # Look at no more than twice a batch's worth: enough to fill one with free ops.
    while weight + free_weight < max_batch and seen_weight < 2 * max_batch and not queue.empty():
        op = queue.get_nowait()
        seen.append(op)
        seen_weight += op.weight
        if op.passed_over >= MAX_PASSES or held.isdisjoint(touches(op, indicators)):
            free_weight += op.weight
        else:
            blocked.append(op)
    if 2 * len(blocked) > len(seen):
        # Mostly conflicting (a hot balance): take them in order, as if we did not look.
        rest = []
        for op in seen:
            if weight < max_batch:
                batch.append(op)
                weight += op.weight
            else:
                rest.append(op)
        queue.put_back(rest)
        return weight
    passed = set(map(id, blocked))
    for op in seen:
        if id(op) in passed:
            op.passed_over += 1
        else:
            batch.append(op)
    queue.put_back(blocked)
    return weight + free_weight
