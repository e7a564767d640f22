"""Earns written once per engine batch (``loyalty_writes``) and the shared member reads.

Worked examples on both stores: many payments completed in one batch earn exactly what they
would one at a time; an earn planned on a deficit another earn of the same batch just paid is
planned again on its own; a row changed outside the batch fails the batch's one statement, the
engine replays the batch one payment at a time, and only that payment is planned again.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from tally.core.loyalty.errors import StalePlan
from tally.core.loyalty.records import Account, Program
from tally.services import Services
from tally.settings import Settings
from tally.store import (
    loyalty_adjust,
    loyalty_members,
    loyalty_payments,
    loyalty_programs,
    loyalty_refunds,
)
from tally.store import tables as t
from tally.store import tables_loyalty as lt
from tally.store.loyalty_lookup import Coalesced, MemberReads
from tally.store.loyalty_writes import BatchWrites, WriteSet

from .batch_helpers import OneBatch, Writes
from .loyalty_helpers import EUR_RULE, ledger_sums_to_zero


async def _program(services: Services, rule: dict[str, Any] = EUR_RULE) -> str:
    body = {"name": "Coffee Club", "earning_rules": [rule]}
    return str((await loyalty_programs.create_program(services, body))["id"])


async def _member(services: Services, program_id: str, name: str) -> tuple[str, str]:
    customer = await loyalty_members.create_customer(services, {"name": name})
    account = await loyalty_members.create_account(
        services, {"program": program_id, "customer": customer["id"]}
    )
    return customer["id"], account["id"]


async def _pay(services: Services, customer: str, amount: int) -> dict[str, Any]:
    body = {"amount": amount, "currency": "eur", "status": "completed", "customer": customer}
    return await loyalty_payments.create_payment(services, body)


async def _account(services: Services, account_id: str) -> dict[str, Any]:
    return await loyalty_members.get_account(services, account_id)


async def _count(services: Services, table: sa.Table, **where: Any) -> int:
    query = sa.select(sa.func.count()).select_from(table)
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    async with services.db.read() as conn:
        return int((await conn.execute(query)).scalar_one())


async def _lots(services: Services, account_id: str) -> list[int]:
    c = lt.points_lots.c
    async with services.db.read() as conn:
        rows = await conn.execute(sa.select(c.remaining).where(c.account_id == account_id))
        return sorted(int(r.remaining) for r in rows)


async def test_eight_payments_in_one_batch_earn_as_they_would_one_by_one(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = await _program(services)
    alice, bob, carol = [await _member(services, program, n) for n in ("Alice", "Bob", "Carol")]
    orders = [(alice, 4200), (bob, 1000), (alice, 550), (carol, 99), (bob, 12345), (alice, 100)]
    orders += [(carol, 20000), (bob, 199)]
    # EUR 0.99 earns nothing: that payment has no posting and writes in a transaction of its
    # own; the seven others are applied as one batch.
    batch = OneBatch(services.engine, 7).install(monkeypatch)
    writes = Writes(monkeypatch)
    batches = services.engine.batches

    paid = await asyncio.gather(*(_pay(services, c[0], amount) for c, amount in orders))

    assert services.engine.batches == batches + 1 and len(batch.ops) == 7
    assert [p["points_earned"] for p in paid] == [42, 10, 5, 0, 123, 1, 200, 1]
    assert all(p["status"] == "completed" for p in paid)
    # One write for the batch, with every payment, points transaction and lot.
    assert len(writes.calls) == 1
    assert writes.calls[0]["rows"] == {
        "payments": 7,
        "events": 14,
        "points_transactions": 7,
        "points_lots": 7,
    }
    assert writes.calls[0]["failed"] is None
    assert writes.merged == (1 if services.db.is_postgres else 0)  # in the engine's write
    balances = {
        name: (await _account(services, who[1]))["balance"]
        for name, who in (("alice", alice), ("bob", bob), ("carol", carol))
    }
    assert balances == {"alice": 48, "bob": 134, "carol": 200}
    assert await _count(services, lt.payments, status="completed") == 8
    assert await _count(services, lt.points_transactions) == 7
    assert await _count(services, t.events, type="loyalty.points.earned") == 7
    assert await _count(services, t.events, type="payment.completed") == 8
    await ledger_sums_to_zero(services.db)


async def _member_owing(services: Services, program: str, owed: int) -> tuple[str, str]:
    """A member whose refunded payment clawed back points already spent: ``owed`` deficit."""
    customer, account = await _member(services, program, "Dana")
    paid = await _pay(services, customer, owed * 100)
    await loyalty_adjust.adjust(services, account, {"points": -owed, "reason": "spent"})
    await loyalty_refunds.create_refund(services, {"payment": paid["id"]})
    figures = await _account(services, account)
    assert (figures["balance"], figures["deficit"]) == (-owed, owed)
    return customer, account


async def test_a_deficit_paid_by_one_earn_of_the_batch_is_not_paid_twice(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = await _program(services)
    customer, account = await _member_owing(services, program, 42)
    OneBatch(services.engine, 2).install(monkeypatch)

    first, second = await asyncio.gather(
        _pay(services, customer, 3000), _pay(services, customer, 2000)
    )

    # Both earns were planned on a deficit of 42; the one applied second in the batch saw the
    # first one pay it, so it was planned again on its own (one retry) and paid what was left.
    assert (first["points_earned"], second["points_earned"]) == (30, 20)
    figures = await _account(services, account)
    assert (figures["balance"], figures["deficit"]) == (8, 0)
    assert sum(await _lots(services, account)) == 8
    await ledger_sums_to_zero(services.db)


async def test_a_row_changed_outside_the_batch_fails_only_its_own_payment(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = await _program(services)
    members = [await _member(services, program, f"member {i}") for i in range(6)]
    culprit = members[3][1]

    async def clawback_elsewhere() -> None:
        # Between planning and writing, another process leaves member 3 owing 5 points.
        async with services.db.write() as conn:
            await conn.execute(
                lt.loyalty_accounts.update()
                .where(lt.loyalty_accounts.c.account_id == culprit)
                .values(deficit=5)
            )

    OneBatch(services.engine, 6, before=clawback_elsewhere).install(monkeypatch)
    writes = Writes(monkeypatch)

    paid = await asyncio.gather(
        *(_pay(services, c, 1000 * (i + 1)) for i, (c, _) in enumerate(members))
    )

    assert [p["points_earned"] for p in paid] == [10, 20, 30, 40, 50, 60]
    # The batch's one statement failed on member 3's deficit and wrote nothing; the engine
    # replayed the six payments one by one (member 3's failed again, alone) and member 3's
    # payment was planned again on the new deficit.
    assert writes.calls[0] == {
        "rows": {"payments": 6, "events": 12, "points_transactions": 6, "points_lots": 6},
        "guards": 6,
        "failed": "StalePlan",
    }
    assert writes.events()[1:] == [2] * 7
    assert [c["failed"] for c in writes.calls[1:]].count("StalePlan") == 1
    assert await _lots(services, culprit) == [35]
    assert (await _account(services, culprit))["deficit"] == 0
    assert await _count(services, lt.payments) == 6
    assert await _count(services, lt.points_lots) == 6
    assert await _count(services, t.events, type="loyalty.points.earned") == 6
    await ledger_sums_to_zero(services.db)


async def test_a_payment_with_no_member_earns_nothing_and_writes_alone(
    services: Services,
) -> None:
    await _program(services)
    customer = await loyalty_members.create_customer(services, {"name": "Walk-in"})
    paid = await _pay(services, customer["id"], 4200)
    assert (paid["points_earned"], paid["loyalty_account"]) == (0, None)
    assert await _count(services, t.events, type="payment.completed") == 1


async def test_a_rule_changed_by_another_process_is_used_by_the_next_payment(
    services: Services, store_url: str
) -> None:
    program = await _program(services)
    customer, _ = await _member(services, program, "Erin")
    assert (await _pay(services, customer, 4200))["points_earned"] == 42
    other = Services.build(Settings(database_url=store_url, auto_migrate=False, run_workers=False))
    await other.start()
    try:
        double = {**EUR_RULE, "points": 2}
        await loyalty_programs.update_program(other, program, {"earning_rules": [double]})
    finally:
        await other.stop()
    assert (await _pay(services, customer, 4200))["points_earned"] == 84


# ---- the batch's guards, in memory ----------------------------------------------------------


def _deficit(out: WriteSet, account: str, expect: int, new: int | None = None) -> WriteSet:
    key, what = {"account_id": account}, f"account {account}"
    if new is None:
        out.check(lt.loyalty_accounts, key, {"deficit": expect}, what)
    else:
        out.guard(lt.loyalty_accounts, key, {"deficit": expect}, {"deficit": new}, what)
    return out


def test_guards_of_one_row_merge_into_one_update_expecting_what_the_first_expected() -> None:
    batch = BatchWrites()
    batch.add(_deficit(WriteSet(), "loy_a", 10, 4), queue=True)
    batch.add(_deficit(WriteSet(), "loy_a", 4), queue=True)
    batch.add(_deficit(WriteSet(), "loy_a", 4, 0), queue=True)
    batch.add(_deficit(WriteSet(), "loy_b", 0), queue=True)
    merged = {g.key["account_id"]: (g.expect, g.values) for g in batch.guards.values()}
    assert merged == {
        "loy_a": ({"deficit": 10}, {"deficit": 0}),
        "loy_b": ({"deficit": 0}, {}),
    }


def test_a_guard_expecting_what_an_earlier_set_changed_is_stale_and_changes_nothing() -> None:
    batch = BatchWrites()
    batch.add(_deficit(WriteSet(), "loy_a", 10, 4), queue=True)
    late = _deficit(WriteSet(), "loy_a", 10, 0)
    late.insert(
        lt.loyalty_earn_usage, {"account_id": "loy_a", "scope": "s", "period_start": 0, "points": 1}
    )
    with pytest.raises(StalePlan, match="account loy_a changed"):
        batch.add(late, queue=True)
    assert batch.known == {("loyalty_accounts", ("account_id", "loy_a")): {"deficit": 4}}
    assert not batch.inserts
    assert [g.values for g in batch.guards.values()] == [{"deficit": 4}]


def test_a_set_written_at_once_still_moves_the_rows_later_sets_expect() -> None:
    batch = BatchWrites()
    batch.add(_deficit(WriteSet(), "loy_a", 10, 4), queue=False)  # written by its own request
    batch.add(_deficit(WriteSet(), "loy_a", 4, 0), queue=True)
    (merged,) = batch.guards.values()
    assert (merged.expect, merged.values) == ({}, {"deficit": 0})
    with pytest.raises(StalePlan):
        batch.add(_deficit(WriteSet(), "loy_a", 10), queue=True)


# ---- shared reads -----------------------------------------------------------------------------


async def test_keys_asked_while_a_read_is_in_flight_share_the_next_read() -> None:
    reads: list[list[str]] = []
    release = asyncio.Event()

    async def fetch(keys: list[str]) -> dict[str, str]:
        reads.append(sorted(keys))
        if len(reads) == 1:
            await release.wait()
        return {k: k.upper() for k in keys if k != "missing"}

    shared: Coalesced[str, str] = Coalesced(fetch)
    first = asyncio.ensure_future(shared.get("a"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    later = [asyncio.ensure_future(shared.get(k)) for k in ("b", "c", "b", "missing")]
    await asyncio.sleep(0)
    release.set()
    assert await first == "A"
    assert [await f for f in later] == ["B", "C", "B", None]
    assert reads == [["a"], ["b", "c", "missing"]]


async def test_a_failed_read_fails_its_callers_and_the_next_read_runs() -> None:
    calls = 0

    async def fetch(keys: list[str]) -> dict[str, int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("the database went away")
        return {k: len(k) for k in keys}

    shared: Coalesced[str, int] = Coalesced(fetch)
    with pytest.raises(ConnectionError):
        await shared.get("abc")
    assert await shared.get("abcd") == 4


async def test_member_reads_answer_a_customer_with_its_accounts_and_current_program(
    services: Services,
) -> None:
    program = await _program(services)
    customer, account = await _member(services, program, "Finn")
    bare = await loyalty_members.create_customer(services, {"name": "No account"})
    reads = MemberReads.of(services)
    (exists, members), (bare_exists, none), missing = await asyncio.gather(
        reads.customer(customer), reads.customer(bare["id"]), reads.customer("cust_missing")
    )
    assert exists and bare_exists and not missing[0]
    assert none == [] and missing[1] == []
    [(found, found_program)] = members
    assert isinstance(found, Account) and isinstance(found_program, Program)
    assert (found.account_id, found.customer_id, found.deficit) == (account, customer, 0)
    assert found_program.program_id == program
    by_account = await reads.account(account)
    assert by_account is not None and by_account[1] is found_program  # the kept copy
    assert await reads.account("loy_missing") is None
