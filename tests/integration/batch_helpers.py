"""Driving the posting engine's batch on purpose: the next N operations applied as one batch.

Under load the engine's flusher applies whatever requests are queued in one database transaction.
``OneBatch`` makes that deterministic: it holds the next ``size`` operations submitted to the
engine, optionally runs ``before`` (a concurrent writer acting between planning and writing),
then applies them together with ``engine.run``. Later submissions (retries) take the ordinary
path. ``Writes`` records every write of ``loyalty_writes`` (the batch's one statement), whether
it is a statement of its own or rides in the engine's write (``merge_batch``, PostgreSQL).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tally.core.ledger.records import TransactionRecord
from tally.store import loyalty_writes
from tally.store.engine import Op, PostingEngine
from tally.store.engine_ops import MergedWrite

WAIT_SECONDS = 30


class OneBatch:
    def __init__(
        self,
        engine: PostingEngine,
        size: int,
        before: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.engine, self.size, self.before = engine, size, before
        self.ops: list[Op] = []
        self.applied = asyncio.Event()
        self._submit = engine.submit

    def install(self, monkeypatch: pytest.MonkeyPatch) -> OneBatch:
        monkeypatch.setattr(self.engine, "submit", self.submit)
        return self

    async def submit(self, op: Op) -> list[TransactionRecord]:
        if len(self.ops) >= self.size:
            return await self._submit(op)
        self.ops.append(op)
        if len(self.ops) == self.size:
            if self.before is not None:
                await self.before()
            await self.engine.run(self.ops)
            self.applied.set()
        else:  # a deadline, so a test that miscounts its operations fails instead of hanging
            await asyncio.wait_for(self.applied.wait(), WAIT_SECONDS)
        if op.error is not None:
            raise op.error
        return op.records


class Writes:
    """What each ``loyalty_writes`` write carried: rows per table, and whether it committed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[dict[str, Any]] = []
        self.merged = 0  # writes that rode in the engine's own statement
        original = loyalty_writes._write
        merge = loyalty_writes._merge

        async def spy(conn: Any, batch: loyalty_writes.BatchWrites) -> None:
            call = self._call(batch)
            try:
                await original(conn, batch)
            except Exception as exc:
                call["failed"] = type(exc).__name__
                raise

        def merge_spy(batch: loyalty_writes.BatchWrites, first: int) -> MergedWrite:
            merged = merge(batch, first)
            self.merged += 1
            call = self._call(batch)
            check = merged.check

            def checked(values: list[Any]) -> None:
                try:
                    check(values)
                except Exception as exc:
                    call["failed"] = type(exc).__name__
                    raise

            merged.check = checked
            return merged

        monkeypatch.setattr(loyalty_writes, "_write", spy)
        monkeypatch.setattr(loyalty_writes, "_merge", merge_spy)

    def _call(self, batch: loyalty_writes.BatchWrites) -> dict[str, Any]:
        rows: dict[str, int] = {}
        for items in batch.inserts.values():
            name = items[0].table.name
            rows[name] = rows.get(name, 0) + len(items)
        call: dict[str, Any] = {"rows": rows, "guards": len(batch.guards), "failed": None}
        self.calls.append(call)
        return call

    def events(self) -> list[int]:
        return [call["rows"].get("events", 0) for call in self.calls]
