"""Hypothesis drives random sequences of operations through the real posting engine, on both stores.

Each example opens a fresh ledger with its own currency: four balances (``b3`` allows overdraft on
the balance itself), ``@World`` and one balance in another currency. Operations: payments with and
without overdraft (allowed, limited), holds, partial and full commits, voids, refunds (with and
without overdraft), splits over several destinations, and atomic bulks, some built to fail. A small
independent model states what should happen. After every operation the store must agree with the
model; a failed operation must have changed nothing (balances, transaction rows, events). At the
end of each example: every currency sums to zero, each balance equals the sum of its postings, and
no ordinary balance is below zero unless an allowed overdraft took it there.

Hypothesis runs in a worker thread; each step's coroutine runs on the test's event loop, where the
engine's flushers live.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections import defaultdict
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tally.core.errors import TallyError
from tally.core.ids import GENERAL_LEDGER_ID, new_id
from tally.core.ledger.distribution import Share
from tally.core.ledger.records import BalanceRecord, Kind, LedgerRecord, Status
from tally.core.ledger.records import TransactionRecord as Record
from tally.core.ledger.transfers import TransferRequest, plan_transfer
from tally.services import Services
from tally.store import ledger_repo
from tally.store import tables as t

T = TypeVar("T")
WORLD, FOREIGN = "@World", "foreign"
ORDINARY = ("b0", "b1", "b2")
PARTIES = (WORLD, *ORDINARY, "b3")
FUNDS, NOT_INFLIGHT = "TXN_INSUFFICIENT_FUNDS", "TXN_NOT_INFLIGHT"
# Refusing to refund a hold answers TXN_NOT_REFUNDABLE (commit or void it instead).
REFUND_OF_HOLD = "refund of a hold"
STARTING = 10_000  # what each ordinary balance is given when an example opens
_currencies = itertools.count(1)


class Refused(Exception):
    """The model's verdict: the operation fails with this error code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# ---- the model ------------------------------------------------------------------------------


@dataclass
class Account:
    kind: str  # world | ordinary | lenient (the balance allows overdraft) | foreign
    credit: int = 0
    debit: int = 0
    icredit: int = 0
    idebit: int = 0
    floor: int = 0  # the lowest `available` an allowed overdraft has taken it to

    @property
    def available(self) -> int:
        return self.credit - self.debit - self.idebit

    def amounts(self) -> tuple[int, int, int, int]:
        return self.credit, self.debit, self.icredit, self.idebit


@dataclass
class Row:
    """A transaction row the model knows: applied | hold | commit | void | refund."""

    kind: str
    source: str
    destination: str
    amount: int
    reference: str
    committed: int = 0
    voided: bool = False
    refunded: bool = False


@dataclass
class Model:
    accounts: dict[str, Account]
    rows: dict[str, Row] = field(default_factory=dict)
    references: set[str] = field(default_factory=set)

    def debit(self, name: str, amount: int, allow: bool, limit: int) -> None:
        """Blnk's overdraft rule, stated once more, independently of the code under test."""
        account = self.accounts[name]
        free = account.kind in ("world", "lenient") or (allow and limit == 0)
        short = not free and account.available < amount
        if short and (limit == 0 or account.available - amount < -limit):
            raise Refused(FUNDS)
        if account.kind == "ordinary" and (allow or limit):
            account.floor = min(account.floor, account.available - amount)

    def move(self, source: str, destination: str, amount: int, *, held: bool = False) -> None:
        src, dst = self.accounts[source], self.accounts[destination]
        if held:
            src.idebit, dst.icredit = src.idebit + amount, dst.icredit + amount
        else:
            src.debit, dst.credit = src.debit + amount, dst.credit + amount


@dataclass(frozen=True)
class Transfer:
    reference: str
    source: str
    amount: int
    destination: str | None = None
    shares: tuple[tuple[str, str], ...] = ()  # (party, "250" minor units | "25%" | "left")
    inflight: bool = False
    allow: bool = False
    limit: int = 0

    def legs(self) -> list[tuple[str, int]]:
        if self.destination is not None:
            return [(self.destination, self.amount)]
        fixed = sum(int(s) for _, s in self.shares if s.isdigit())
        percents = sum(int(s[:-1]) for _, s in self.shares if s.endswith("%"))
        if fixed > self.amount or percents > 100:
            raise Refused("TXN_INVALID_DISTRIBUTION")
        parts = [
            (p, int(s) if s.isdigit() else self.amount * int(s[:-1]) // 100 if s != "left" else -1)
            for p, s in self.shares
        ]
        assigned = sum(a for _, a in parts if a > 0)
        if assigned > self.amount:
            raise Refused("TXN_INVALID_DISTRIBUTION")
        parts = [(p, self.amount - assigned if a == -1 else a) for p, a in parts]
        return [(p, a) for p, a in parts if a > 0]

    def apply(self, model: Model) -> list[tuple[str, str, int]]:
        """Apply to ``model``; ``(reference, destination, amount)`` of each leg, in order."""
        legs = self.legs()
        refs = [self.reference if i == 0 else f"{self.reference}-{i + 1}" for i in range(len(legs))]
        if any(r in model.references for r in refs):
            raise Refused("TXN_DUPLICATE_REFERENCE")
        for destination, amount in legs:
            if FOREIGN in (self.source, destination):
                raise Refused("TXN_CURRENCY_MISMATCH")
            model.debit(self.source, amount, self.allow, self.limit)
            model.move(self.source, destination, amount, held=self.inflight)
        return [(ref, d, a) for ref, (d, a) in zip(refs, legs, strict=True)]


@dataclass(frozen=True)
class Op:
    action: str  # post | bulk | commit | void | refund
    transfers: tuple[Transfer, ...] = ()
    target: str = ""
    amount: int | None = None
    allow: bool = False

    def predict(self, model: Model, records: list[Record] | None) -> Model:
        """The model after this op, or Refused; ``records`` (on success) name the new rows."""
        after = copy.deepcopy(model)
        if self.action in ("post", "bulk"):
            made = []
            for transfer in self.transfers:
                for ref, destination, amount in transfer.apply(after):
                    after.references.add(ref)
                    kind = "hold" if transfer.inflight else "applied"
                    made.append(Row(kind, transfer.source, destination, amount, ref))
            for record, row in zip(records or [], made, strict=records is not None):
                status = Status.INFLIGHT if row.kind == "hold" else Status.APPLIED
                assert (record.reference, record.precise_amount, record.status) == (
                    row.reference,
                    row.amount,
                    status,
                )
                after.rows[record.transaction_id] = row
        elif self.action == "refund":
            self._refund(after, records)
        else:
            self._settle(after, records)
        return after

    def _settle(self, model: Model, records: list[Record] | None) -> None:
        row = model.rows[self.target]
        if row.kind != "hold":
            raise Refused(NOT_INFLIGHT)
        if row.voided:
            raise Refused("TXN_ALREADY_VOIDED")
        remaining = row.amount - row.committed
        if remaining == 0:
            raise Refused("TXN_ALREADY_COMMITTED")
        amount = remaining if self.action == "void" or self.amount is None else self.amount
        if amount > remaining:
            raise Refused("TXN_COMMIT_AMOUNT_EXCEEDED")
        src, dst = model.accounts[row.source], model.accounts[row.destination]
        src.idebit, dst.icredit = src.idebit - amount, dst.icredit - amount
        if self.action == "void":
            row.voided = True
        else:
            row.committed += amount
            model.move(row.source, row.destination, amount)
        kind = "void" if self.action == "void" else "commit"
        for record in records or []:
            assert record.status == (Status.VOID if kind == "void" else Status.APPLIED)
            assert record.precise_amount == amount and record.parent_transaction == self.target
            model.rows[record.transaction_id] = Row(
                kind, row.source, row.destination, amount, record.reference
            )

    def _refund(self, model: Model, records: list[Record] | None) -> None:
        row = model.rows[self.target]
        if row.refunded:
            raise Refused("TXN_ALREADY_REFUNDED")
        if row.kind == "hold":
            raise Refused(REFUND_OF_HOLD)
        if row.kind not in ("applied", "commit"):
            raise Refused("TXN_NOT_REFUNDABLE")
        model.debit(row.destination, row.amount, self.allow, 0)
        model.move(row.destination, row.source, row.amount)
        row.refunded = True
        for record in records or []:
            assert (record.status, record.parent_transaction) == (Status.APPLIED, self.target)
            model.rows[record.transaction_id] = Row(
                "refund", row.destination, row.source, row.amount, record.reference
            )


# ---- strategies -----------------------------------------------------------------------------

amounts = st.integers(1, 5_000) | st.integers(1, 5_000) | st.integers(2**63 - 5, 2**64)


def rarely(draw: st.DrawFn, odds: int = 10) -> bool:
    """True about once in ``odds`` (Hypothesis leans to small numbers, so test for the largest)."""
    return bool(draw(st.integers(1, odds)) == odds)


@st.composite
def transfers(draw: st.DrawFn, model: Model, reference: str, single: bool = False) -> Transfer:
    if model.references and rarely(draw):
        reference = draw(st.sampled_from(sorted(model.references)))
    source = draw(st.sampled_from(PARTIES))
    others = [p for p in PARTIES if p != source] + ([FOREIGN] if rarely(draw) else [])
    overdraft = draw(st.sampled_from(["none", "none", "allow", "limit", "both"]))
    limit = draw(st.integers(1, 3_000)) if overdraft in ("limit", "both") else 0
    edge = model.accounts[source].available + limit  # the most this source may pay
    amount = draw(st.sampled_from([edge, edge + 1])) if edge > 0 and rarely(draw, 4) else None
    common = {
        "reference": reference,
        "source": source,
        "amount": amount or draw(amounts),
        "inflight": draw(st.integers(0, 4)) >= 3,
        "allow": overdraft in ("allow", "both"),
        "limit": limit,
    }
    if single or draw(st.integers(0, 3)) < 3:
        return Transfer(destination=draw(st.sampled_from(others)), **common)
    parties = draw(st.lists(st.sampled_from(others), min_size=2, max_size=3, unique=True))
    kinds = st.integers(0, 3_000).map(str) | st.integers(1, 100).map(lambda p: f"{p}%")
    shares = [(p, draw(kinds)) for p in parties[1:]]
    shares.insert(draw(st.integers(0, len(shares))), (parties[0], "left"))
    return Transfer(shares=tuple(shares), **common)


def targets(model: Model, action: str) -> list[str]:
    """Rows the action can work on; the others are picked now and then to see them refused."""
    if action == "refund":
        return [
            i for i, r in model.rows.items() if r.kind in ("applied", "commit") and not r.refunded
        ]
    return [
        i
        for i, r in model.rows.items()
        if r.kind == "hold" and not r.voided and r.committed < r.amount
    ]


@st.composite
def operations(draw: st.DrawFn, model: Model, reference: str) -> Op:
    choices = ["post", "post", "bulk"]
    choices += ["commit", "void"] * 2 if targets(model, "commit") else []
    choices += ["refund"] * 2 if targets(model, "refund") else []
    choices += ["commit", "void", "refund"] if model.rows else []
    action = draw(st.sampled_from(choices))
    if action == "post":
        return Op("post", (draw(transfers(model, reference)),))
    if action == "bulk":
        count = draw(st.integers(2, 3))
        items = [draw(transfers(model, f"{reference}b{i}", single=True)) for i in range(count)]
        return Op("bulk", tuple(items))
    likely = targets(model, action)
    pool = list(model.rows) if not likely or rarely(draw) else likely
    target = draw(st.sampled_from(pool))
    amount = draw(st.none() | st.integers(1, model.rows[target].amount + 100))
    return Op(action, target=target, amount=amount, allow=draw(st.booleans()))


# ---- running against the engine -------------------------------------------------------------


@dataclass
class Example:
    """One example's own currency and balances (model name -> balance id)."""

    currency: str
    ids: dict[str, str]

    def party(self, name: str) -> str:
        return self.ids.get(name, name)


def to_plan(ex: Example, transfer: Transfer, now: Any) -> Any:
    shares = [
        Share(ex.party(p), s) if s.endswith("%") else Share(ex.party(p), precise_distribution=s)
        for p, s in transfer.shares
    ]
    request = TransferRequest(
        currency=ex.currency,
        reference=transfer.reference,
        precise_amount=transfer.amount,
        precision=1,
        source=ex.party(transfer.source),
        destination=ex.party(transfer.destination) if transfer.destination else None,
        destinations=shares or None,
        inflight=transfer.inflight,
        allow_overdraft=transfer.allow,
        overdraft_limit=transfer.limit or None,
    )
    return plan_transfer(request, now=now)


async def attempt(svc: Services, ex: Example, op: Op) -> tuple[list[Record] | None, Any]:
    """Run ``op`` through the engine: its records, or the business error it raised."""
    try:
        now = svc.clock.now()
        if op.action in ("post", "bulk"):
            plans = [to_plan(ex, transfer, now) for transfer in op.transfers]
            return await svc.engine.post_atomic(plans), None
        if op.action == "commit":
            return await svc.engine.commit(op.target, precise_amount=op.amount), None
        if op.action == "void":
            return await svc.engine.void(op.target), None
        return await svc.engine.refund(op.target, allow_overdraft=op.allow), None
    except TallyError as exc:
        return None, exc


async def open_accounts(svc: Services) -> tuple[Example, Model]:
    """A ledger with b0..b3, a balance in another currency, and @World, all in a new currency;
    b0..b2 start with ``STARTING`` from @World."""
    ex = Example(f"P{next(_currencies):04d}", {})
    now = svc.clock.now()
    ledger = LedgerRecord(new_id("ldg"), f"property {ex.currency}", now)
    async with svc.db.write() as conn:
        await ledger_repo.insert_ledger(conn, ledger, now=now)
        for name in (*ORDINARY, "b3", FOREIGN, WORLD):
            record = BalanceRecord(
                new_id("bln"),
                GENERAL_LEDGER_ID if name == WORLD else ledger.ledger_id,
                ex.currency + ("F" if name == FOREIGN else ""),
                now,
                indicator=WORLD if name == WORLD else None,
                allow_overdraft=name in ("b3", WORLD),
            )
            await ledger_repo.insert_balance(conn, record, now=now)
            ex.ids[name] = record.balance_id
    kinds = {WORLD: "world", "b3": "lenient", FOREIGN: "foreign"}
    model = Model({name: Account(kinds.get(name, "ordinary")) for name in ex.ids})
    opening = Op(
        "bulk",
        tuple(Transfer(f"{ex.currency}-open-{name}", WORLD, STARTING, name) for name in ORDINARY),
    )
    records, error = await attempt(svc, ex, opening)
    assert error is None, error
    return ex, opening.predict(model, records)


@dataclass
class Snapshot:
    amounts: dict[str, tuple[int, ...]]
    transactions: int
    events: int


async def snapshot(svc: Services, ex: Example) -> Snapshot:
    b = t.balances.c
    columns = (
        b.credit_balance,
        b.debit_balance,
        b.inflight_credit_balance,
        b.inflight_debit_balance,
    )
    async with svc.db.read() as conn:
        rows = await conn.execute(
            sa.select(b.balance_id, *columns).where(b.balance_id.in_(list(ex.ids.values())))
        )
        found = {row.balance_id: tuple(int(v) for v in row[1:]) for row in rows}
        transactions, events = [
            (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
            for table in (t.transactions, t.events)
        ]
    return Snapshot(found, transactions, events)


def agrees(ex: Example, model: Model, seen: Snapshot) -> None:
    for name, account in model.accounts.items():
        stored = seen.amounts[ex.ids[name]]
        assert stored == account.amounts(), f"{name}: store {stored}, model {account.amounts()}"


async def postings(svc: Services, ex: Example) -> dict[str, tuple[int, ...]]:
    """Each balance's (credit, debit, inflight credit, inflight debit) from transaction rows."""
    x = t.transactions.c
    async with svc.db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(x.source, x.destination, x.precise_amount, x.status, x.kind).where(
                    x.currency == ex.currency
                )
            )
        ).all()
    summed: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for source, destination, amount, status, kind in rows:
        if status == Status.APPLIED:
            summed[destination][0] += int(amount)
            summed[source][1] += int(amount)
        sign = 1 if status == Status.INFLIGHT else -1 if kind in (Kind.COMMIT, Kind.VOID) else 0
        summed[destination][2] += sign * int(amount)
        summed[source][3] += sign * int(amount)
    return {balance_id: tuple(values) for balance_id, values in summed.items()}


async def currency_totals(svc: Services) -> dict[str, list[int]]:
    b = t.balances.c
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    async with svc.db.read() as conn:
        for row in await conn.execute(sa.select(b.currency, b.balance, b.inflight_balance)):
            totals[row.currency][0] += int(row.balance)
            totals[row.currency][1] += int(row.inflight_balance)
    return totals


async def final_checks(svc: Services, ex: Example, model: Model) -> None:
    totals = await currency_totals(svc)
    assert all(sums == [0, 0] for sums in totals.values()), dict(totals)
    seen, summed = await snapshot(svc, ex), await postings(svc, ex)
    for name, balance_id in ex.ids.items():
        assert summed.get(balance_id, (0, 0, 0, 0)) == seen.amounts[balance_id], name
    agrees(ex, model, seen)
    for name in ORDINARY:
        account = model.accounts[name]
        assert account.available >= account.floor, f"{name} is below any allowed overdraft"


def run_example(svc: Services, data: st.DataObject, loop: asyncio.AbstractEventLoop) -> None:
    def wait(coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=120)

    ex, model = wait(open_accounts(svc))
    for step in range(data.draw(st.integers(3, 12), label="steps")):
        op = data.draw(operations(model, f"{ex.currency}-{step}"), label=f"op {step}")
        before = wait(snapshot(svc, ex))
        agrees(ex, model, before)
        records, error = wait(attempt(svc, ex, op))
        event(f"{op.action}: {error.code if error else 'applied'}")
        try:
            model, verdict = op.predict(model, records), None
        except Refused as refused:
            verdict = refused.code
        if error is None:
            assert verdict is None, f"{op} was applied; the model says {verdict}"
            continue
        expected = {"TXN_NOT_REFUNDABLE"} if verdict == REFUND_OF_HOLD else {verdict}
        assert error.code in expected, f"{op} failed with {error.code}: {error.message}"
        assert wait(snapshot(svc, ex)) == before, f"{op} failed but changed the ledger"
    wait(final_checks(svc, ex, model))


@pytest.mark.slow
async def test_random_operations_keep_the_ledger_balanced(services: Services) -> None:
    loop = asyncio.get_running_loop()

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def example(data: st.DataObject) -> None:
        run_example(services, data, loop)

    await asyncio.to_thread(example)
