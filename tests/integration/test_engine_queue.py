"""How a flusher picks its batch: ops that no batch being applied holds go first, none is lost."""

from __future__ import annotations

import asyncio

from tally.store.database import Database
from tally.store.engine import PostingEngine
from tally.store.engine_ops import Commit, Op, Post
from tally.store.engine_queue import MAX_PASSES, Held, OpQueue, drain, touches

from .engine_helpers import plan


def transfer(source: str, destination: str) -> Op:
    return Op([Post(plan(source, destination, 1))])


def queued(*ops: Op) -> OpQueue:
    queue = OpQueue()
    for op in ops:
        queue.put_nowait(op)
    return queue


def held(*ids: str) -> Held:
    """Balances held by a batch in flight (claims need the running event loop)."""
    found = Held()
    found.claim(set(ids))
    return found


def test_with_nothing_held_ops_are_taken_in_order_up_to_the_limit() -> None:
    ops = [transfer("bln_a", "bln_b") for _ in range(5)]
    queue = queued(*ops)
    batch: list[Op] = []
    assert drain(queue, batch, 0, 3, Held(), {}) == 3
    assert batch == ops[:3]
    assert [queue.get_nowait(), queue.get_nowait()] == ops[3:]


async def test_ops_on_held_balances_wait_for_the_next_batch_at_the_front_of_the_queue() -> None:
    free_1, busy, free_2, free_3 = (
        transfer("bln_a", "bln_b"),
        transfer("bln_c", "bln_held"),
        transfer("bln_d", "bln_e"),
        transfer("bln_f", "bln_g"),
    )
    queue = queued(free_1, busy, free_2, free_3)
    batch: list[Op] = []
    drain(queue, batch, 0, 500, held("bln_held"), {})
    assert batch == [free_1, free_2, free_3]
    assert busy.passed_over == 1 and queue.get_nowait() is busy and queue.empty()

    # Once that balance is free, the next flusher takes it first.
    queue.put_nowait(later := transfer("bln_h", "bln_i"))
    queue.put_back([busy])
    second: list[Op] = []
    drain(queue, second, 0, 500, held("bln_other"), {})
    assert second == [busy, later]


async def test_an_op_is_passed_over_a_bounded_number_of_times() -> None:
    queue = OpQueue()
    stuck = transfer("bln_c", "bln_held")
    for _ in range(MAX_PASSES):
        queue.put_back([stuck])
        queue.put_nowait(transfer("bln_x", "bln_y"))
        queue.put_nowait(transfer("bln_z", "bln_w"))
        batch: list[Op] = []
        drain(queue, batch, 0, 500, held("bln_held"), {})
        assert stuck not in batch and queue.get_nowait() is stuck
    queue.put_back([stuck])
    batch = []
    drain(queue, batch, 0, 500, held("bln_held"), {})
    assert batch == [stuck] and stuck.passed_over == MAX_PASSES


async def test_when_most_ops_conflict_a_hot_balance_they_are_all_taken_in_order() -> None:
    ops = [transfer("@Store", f"bln_{i}") for i in range(6)]
    ops.insert(2, calm := transfer("bln_x", "bln_y"))
    queue = queued(*ops)
    batch: list[Op] = []
    drain(queue, batch, 0, 500, held("bln_store"), {("@Store", "USD"): "bln_store"})
    assert batch == ops and not any(op.passed_over for op in ops) and calm in batch


async def test_the_limit_holds_and_what_is_left_keeps_its_order() -> None:
    ops = [transfer("@Store", f"bln_{i}") for i in range(6)]
    queue = queued(*ops)
    batch: list[Op] = []
    assert drain(queue, batch, 1, 4, held("@Store"), {}) == 4
    assert batch == ops[:3]
    assert [queue.get_nowait() for _ in range(3)] == ops[3:]


def test_commits_voids_and_refunds_touch_nothing_known_before_their_batch() -> None:
    op = Op([Commit("txn_1"), Post(plan("@World", "bln_a", 1))])
    assert touches(op, {("@World", "USD"): "bln_world"}) == {"bln_world", "bln_a"}
    assert touches(Op([Commit("txn_1")]), {}) == set()


async def test_a_batch_lines_up_behind_the_batches_in_flight_on_its_balances() -> None:
    found = Held()
    first, none_before = found.claim({"bln_a", "bln_b"})
    second, before_second = found.claim({"bln_b", "bln_c"})
    _, before_third = found.claim({"bln_d"})
    assert none_before == [] and before_second == [first] and before_third == []
    # The latest batch on each balance is the one to follow, oldest first.
    _, before_fourth = found.claim({"bln_c", "bln_a"})
    assert before_fourth == [first, second]
    found.release({"bln_a", "bln_b"}, first)
    assert "bln_b" in found  # still held by the second batch
    assert first.applied.result() is None and first.written.result() is False
    assert not found.isdisjoint({"bln_d"}) and found.isdisjoint({"bln_x"})


async def test_the_queue_joins_once_every_op_is_done() -> None:
    queue = queued(first := transfer("bln_a", "bln_b"))
    waiting = asyncio.create_task(queue.get())
    queue.put_nowait(transfer("bln_c", "bln_d"))
    assert await waiting is first
    joined = asyncio.create_task(queue.join())
    await asyncio.sleep(0)
    assert not joined.done()
    queue.get_nowait()
    queue.task_done()
    queue.task_done()
    await asyncio.wait_for(joined, 5)


def test_side_by_side_batches_only_on_a_store_with_row_locks(db: Database) -> None:
    # SQLite has one writer: passing ops over there would only make smaller batches.
    assert PostingEngine(db).sql.side_by_side is db.is_postgres
