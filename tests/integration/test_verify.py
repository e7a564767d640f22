"""`tally verify` on both stores: a ledger built through the engine verifies clean; every kind of
tampering (balance rows, zero-sum, overdraft, hold, refund and currency rules) is reported exactly.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from typer.testing import CliRunner

from tally.cli.main import app
from tally.core.ids import new_id
from tally.core.ledger.distribution import Share
from tally.core.ledger.records import BalanceRecord, Kind, LedgerRecord, Status, TransactionRecord
from tally.core.ledger.transfers import TransferRequest, plan_transfer
from tally.services import Services
from tally.settings import Settings
from tally.store import ledger_repo
from tally.store import tables as t
from tally.store.database import Database
from tally.store.rows import transaction_to_row
from tally.store.verify import VerifyReport, verify_store
from tally.store.verify_rows import Discrepancy

POINTS = "POINTS"


@dataclass
class Shop:
    """The loyalty ledger of the tests: Alice and Bob's POINTS, a EUR wallet, @Store and @World."""

    services: Services
    alice: str
    bob: str
    wallet: str

    async def post(self, **fields: Any) -> list[TransactionRecord]:
        fields.setdefault("reference", new_id("ref"))
        fields.setdefault("currency", POINTS)
        fields.setdefault("precision", 1)
        plan = plan_transfer(TransferRequest(**fields), now=self.services.clock.now())
        return await self.services.engine.post(plan)

    async def balance_id(self, indicator: str, currency: str = POINTS) -> str:
        async with self.services.db.read() as conn:
            found = await ledger_repo.get_balance_by_indicator(conn, indicator, currency)
        return found.balance_id


async def open_shop(services: Services) -> Shop:
    now = services.clock.now()
    ledger = LedgerRecord(new_id("ldg"), "Loyalty", now)
    ids = []
    async with services.db.write() as conn:
        await ledger_repo.insert_ledger(conn, ledger, now=now)
        for currency in (POINTS, POINTS, "EUR"):
            record = BalanceRecord(new_id("bln"), ledger.ledger_id, currency, now)
            await ledger_repo.insert_balance(conn, record, now=now)
            ids.append(record.balance_id)
    return Shop(services, *ids)


async def busy_day(shop: Shop) -> None:
    """Awards held and committed (in part), a void, refunds, a split, an allowed overdraft."""
    engine = shop.services.engine
    [award] = await shop.post(amount=100, source="@Store", destination=shop.alice, inflight=True)
    await engine.commit(award.transaction_id, amount=60)
    await engine.commit(award.transaction_id, amount=15)
    [redeem] = await shop.post(amount=30, source=shop.alice, destination="@Store", inflight=True)
    await engine.void(redeem.transaction_id)
    [gift] = await shop.post(amount=20, source=shop.alice, destination=shop.bob)
    await engine.refund(gift.transaction_id)
    await shop.post(
        amount=90,
        source="@Store",
        destinations=[
            Share(identifier=shop.alice, distribution="50%"),
            Share(identifier=shop.bob, distribution="left"),
        ],
    )
    await shop.post(amount=500, source=shop.bob, destination="@Store", allow_overdraft=True)
    await shop.post(
        amount=42.5, precision=100, currency="EUR", source="@World", destination=shop.wallet
    )
    await shop.post(
        amount=12,
        precision=100,
        currency="EUR",
        source=shop.wallet,
        destination="@World",
        inflight=True,
    )


def by_check(report: VerifyReport, check: str) -> list[Discrepancy]:
    return [d for d in report.discrepancies if d.check == check]


async def insert_rows(db: Database, *records: TransactionRecord) -> None:
    async with db.write() as conn:
        await conn.execute(t.transactions.insert(), [transaction_to_row(r) for r in records])


def row(shop: Shop, **fields: Any) -> TransactionRecord:
    now = shop.services.clock.now()
    values: dict[str, Any] = {
        "transaction_id": new_id("txn"),
        "reference": new_id("ref"),
        "precision": 1,
        "currency": POINTS,
        "status": Status.APPLIED,
        "kind": Kind.TRANSFER,
        "created_at": now,
        "effective_date": now,
    }
    values.update(fields)
    return TransactionRecord(**values)


async def shift_balances(
    db: Database, deltas: dict[str, dict[str, int]], *, keep_zero_sum_trigger: bool = True
) -> None:
    """Tamper: add ``deltas`` to balance columns in ONE statement (exact for any size).

    PostgreSQL refuses a statement that breaks zero-sum; ``keep_zero_sum_trigger=False`` disables
    that trigger for this one transaction.
    """
    b = t.balances
    names = ["credit_balance", "debit_balance", "inflight_credit_balance", "inflight_debit_balance"]
    async with db.write() as conn:
        rows = (
            await conn.execute(
                sa.select(b.c.balance_id, *(b.c[n] for n in names)).where(
                    b.c.balance_id.in_(list(deltas))
                )
            )
        ).all()
        new = {
            r.balance_id: {n: r._mapping[n] + deltas[r.balance_id].get(n, 0) for n in names}
            for r in rows
        }
        for values in new.values():
            values["balance"] = values["credit_balance"] - values["debit_balance"]
            values["inflight_balance"] = (
                values["inflight_credit_balance"] - values["inflight_debit_balance"]
            )

        def case(name: str) -> Any:
            return sa.case(
                *[
                    (b.c.balance_id == bid, sa.literal(v[name], type_=b.c[name].type))
                    for bid, v in new.items()
                ]
            )

        if db.is_postgres and not keep_zero_sum_trigger:
            await conn.execute(sa.text("ALTER TABLE balances DISABLE TRIGGER balances_zero_sum"))
        await conn.execute(
            b.update()
            .where(b.c.balance_id.in_(list(new)))
            .values({name: case(name) for name in [*names, "balance", "inflight_balance"]})
        )
        if db.is_postgres and not keep_zero_sum_trigger:
            await conn.execute(sa.text("ALTER TABLE balances ENABLE TRIGGER balances_zero_sum"))


# ---- a consistent store ---------------------------------------------------------------------


async def test_a_store_built_through_the_engine_verifies_clean(services: Services) -> None:
    shop = await open_shop(services)
    await busy_day(shop)

    report = await verify_store(services.db)

    assert report.discrepancies == []
    assert report.consistent
    assert report.balances == 5  # Alice, Bob, the wallet, @Store (POINTS), @World (EUR)
    assert report.currencies == ["EUR", POINTS]
    async with services.db.read() as conn:
        rows = await conn.execute(sa.select(sa.func.count()).select_from(t.transactions))
        assert report.transactions == rows.scalar_one() == 12
    assert report.to_dict()["consistent"] is True


async def test_an_empty_store_is_consistent(db: Database) -> None:
    report = await verify_store(db)
    assert report.consistent
    assert (report.balances, report.transactions, report.currencies) == (0, 0, [])


async def test_verify_reads_one_snapshot_while_postings_go_on(services: Services) -> None:
    shop = await open_shop(services)
    await shop.post(amount=1000, source="@Store", destination=shop.alice)
    stop = asyncio.Event()

    async def keep_posting() -> None:
        while not stop.is_set():
            [hold] = await shop.post(
                amount=3, source="@Store", destination=shop.alice, inflight=True
            )
            await services.engine.commit(hold.transaction_id, amount=1)
            await shop.post(amount=1, source=shop.alice, destination=shop.bob)

    posting = asyncio.create_task(keep_posting())
    try:
        reports = [await verify_store(services.db) for _ in range(8)]
    finally:
        stop.set()
        await posting

    assert [r.discrepancies for r in reports] == [[]] * 8
    assert len({r.transactions for r in reports}) > 1  # the ledger moved while it was verified


# ---- balances against their rows ------------------------------------------------------------


async def test_a_balance_row_that_disagrees_with_its_postings_is_reported(
    services: Services,
) -> None:
    shop = await open_shop(services)
    await busy_day(shop)
    store = await shop.balance_id("@Store")
    # zero-sum preserved (PostgreSQL's trigger lets it through) but both rows now lie
    await shift_balances(
        services.db, {shop.alice: {"credit_balance": 7}, store: {"debit_balance": 7}}
    )

    report = await verify_store(services.db)

    assert not report.consistent
    found = {(d.subject, d.field): d for d in by_check(report, "balance")}
    assert set(found) == {(shop.alice, "credit_balance"), (store, "debit_balance")}
    alice = found[(shop.alice, "credit_balance")]
    assert alice.actual is not None and alice.expected is not None
    assert alice.actual - alice.expected == 7
    assert by_check(report, "zero_sum") == []
    assert report.discrepancy_count == 2


async def test_a_currency_that_no_longer_sums_to_zero_is_reported(services: Services) -> None:
    shop = await open_shop(services)
    await busy_day(shop)
    await shift_balances(
        services.db, {shop.bob: {"inflight_credit_balance": 3}}, keep_zero_sum_trigger=False
    )

    report = await verify_store(services.db)

    [zero_sum] = by_check(report, "zero_sum")
    assert (zero_sum.subject, zero_sum.field, zero_sum.actual) == (POINTS, "inflight_balance", 3)
    [bob] = by_check(report, "balance")
    assert (bob.subject, bob.field, bob.expected, bob.actual) == (
        shop.bob,
        "inflight_credit_balance",
        0,
        3,
    )


def test_the_cli_exits_1_and_lists_what_was_tampered(store_url: str) -> None:
    async def tamper() -> str:
        services = Services.build(
            Settings(database_url=store_url, auto_migrate=False, run_workers=False)
        )
        await services.start()
        try:
            shop = await open_shop(services)
            await busy_day(shop)
            await shift_balances(
                services.db, {shop.wallet: {"credit_balance": 1}}, keep_zero_sum_trigger=False
            )
            return shop.wallet
        finally:
            await services.stop()

    wallet = asyncio.run(tamper())
    runner = CliRunner()

    result = runner.invoke(app, ["verify", "--database-url", store_url], env={"COLUMNS": "250"})

    assert result.exit_code == 1, result.output
    assert wallet in result.output
    assert "credit_balance" in result.output
    assert "EUR does not sum to zero" in result.output
    assert "2 discrepancies" in result.output
    as_json = runner.invoke(app, ["verify", "--json", "--database-url", store_url])
    assert as_json.exit_code == 1
    assert '"consistent": false' in as_json.output


# ---- overdrafts -----------------------------------------------------------------------------


async def test_an_ordinary_balance_overdrawn_without_permission_is_reported(
    services: Services,
) -> None:
    shop = await open_shop(services)
    await shop.post(amount=10, source="@Store", destination=shop.alice)
    store = await shop.balance_id("@Store")
    # a forged 25-point debit: rows and balances agree, zero-sum holds, but nothing allowed it
    await insert_rows(
        services.db, row(shop, source=shop.alice, destination=store, precise_amount=25)
    )
    await shift_balances(
        services.db, {shop.alice: {"debit_balance": 25}, store: {"credit_balance": 25}}
    )

    report = await verify_store(services.db)

    [overdraft] = report.discrepancies
    assert (overdraft.check, overdraft.subject, overdraft.actual) == ("overdraft", shop.alice, -15)


async def test_overdrafts_allowed_by_a_debit_or_by_the_balance_are_fine(
    services: Services,
) -> None:
    shop = await open_shop(services)
    await shop.post(amount=40, source=shop.alice, destination=shop.bob, allow_overdraft=True)
    await shop.post(amount=10, source=shop.bob, destination=shop.alice)
    now = services.clock.now()
    async with services.db.write() as conn:  # Bob may overdraw for a while, then no more
        await ledger_repo.set_balance_overdraft(conn, shop.bob, True, now=now)
    await shop.post(amount=100, source=shop.bob, destination=shop.alice)
    async with services.db.write() as conn:
        await ledger_repo.set_balance_overdraft(conn, shop.bob, False, now=now)

    report = await verify_store(services.db)

    assert report.consistent, report.discrepancies
    assert report.undecided == []


# ---- the rows' own rules --------------------------------------------------------------------


async def test_settling_a_hold_beyond_its_amount_or_twice_is_reported(services: Services) -> None:
    shop = await open_shop(services)
    [award] = await shop.post(amount=100, source="@Store", destination=shop.alice, inflight=True)
    await services.engine.commit(award.transaction_id, amount=80)
    [held] = await shop.post(amount=5, source=shop.alice, destination=shop.bob, inflight=True)
    await services.engine.void(held.transaction_id)
    [applied] = await shop.post(amount=5, source=shop.alice, destination=shop.bob)
    store = await shop.balance_id("@Store")
    await insert_rows(
        services.db,
        row(
            shop,
            kind=Kind.COMMIT,
            parent_transaction=award.transaction_id,
            source=store,
            destination=shop.alice,
            precise_amount=30,
        ),
        row(
            shop,
            kind=Kind.VOID,
            status=Status.VOID,
            parent_transaction=held.transaction_id,
            source=shop.alice,
            destination=shop.bob,
            precise_amount=5,
        ),
        row(
            shop,
            kind=Kind.COMMIT,
            parent_transaction=applied.transaction_id,
            source=shop.alice,
            destination=shop.bob,
            precise_amount=1,
        ),
        row(
            shop,
            kind=Kind.VOID,
            status=Status.VOID,
            parent_transaction="txn_missing",
            source=shop.alice,
            destination=shop.bob,
            precise_amount=1,
        ),
    )

    report = await verify_store(services.db)

    holds = {(d.subject, d.field): d for d in by_check(report, "hold")}
    over = holds[(award.transaction_id, "precise_amount")]
    assert (over.expected, over.actual) == (100, 110)
    assert holds[(held.transaction_id, "precise_amount")].actual == 10
    assert (
        "which is a APPLIED transfer row, not an inflight hold"
        in holds[(applied.transaction_id, "parent_transaction")].message
    )
    assert (
        "settle txn_missing, which does not exist"
        in holds[("txn_missing", "parent_transaction")].message
    )
    assert len(holds) == 4


async def test_refunding_twice_or_refunding_a_refund_is_reported(services: Services) -> None:
    shop = await open_shop(services)
    await shop.post(amount=50, source="@Store", destination=shop.alice)
    [gift] = await shop.post(amount=20, source=shop.alice, destination=shop.bob)
    [refund] = await services.engine.refund(gift.transaction_id)
    [other] = await shop.post(amount=3, source=shop.alice, destination=shop.bob)
    await insert_rows(
        services.db,
        row(
            shop,
            kind=Kind.REFUND,
            parent_transaction=gift.transaction_id,
            source=shop.bob,
            destination=shop.alice,
            precise_amount=20,
        ),
        row(
            shop,
            kind=Kind.REFUND,
            parent_transaction=refund.transaction_id,
            source=shop.alice,
            destination=shop.bob,
            precise_amount=20,
        ),
        row(
            shop,
            kind=Kind.REFUND,
            parent_transaction=other.transaction_id,
            source=shop.bob,
            destination=shop.alice,
            precise_amount=4,
        ),
    )

    report = await verify_store(services.db)

    refunds = {d.subject: d for d in by_check(report, "refund")}
    assert set(refunds) == {gift.transaction_id, refund.transaction_id, other.transaction_id}
    twice = refunds[gift.transaction_id]
    assert (twice.field, twice.expected, twice.actual) == ("refunds", 1, 2)
    assert "is itself a refund" in refunds[refund.transaction_id].message
    assert "does not reverse" in refunds[other.transaction_id].message
    assert f"moves 3 {POINTS}" in refunds[other.transaction_id].message


async def test_a_row_in_another_currency_than_its_balances_is_reported(
    services: Services,
) -> None:
    shop = await open_shop(services)
    await insert_rows(
        services.db,
        row(shop, currency="EUR", source=shop.alice, destination=shop.bob, precise_amount=1),
    )

    report = await verify_store(services.db)

    currency = {d.subject for d in by_check(report, "currency")}
    assert currency == {shop.alice, shop.bob}
    assert {d.subject for d in by_check(report, "balance")} == {shop.alice, shop.bob}


# ---- exact on both stores, whatever the size ------------------------------------------------


async def test_amounts_wider_than_64_bits_are_summed_exactly(services: Services) -> None:
    shop = await open_shop(services)
    huge = 10**30 + 7
    await shop.post(precise_amount=huge, currency="EUR", source="@World", destination=shop.wallet)
    [hold] = await shop.post(
        precise_amount=huge - 1,
        currency="EUR",
        source=shop.wallet,
        destination="@World",
        inflight=True,
    )
    await services.engine.commit(hold.transaction_id, precise_amount=10**29)
    await services.engine.commit(hold.transaction_id, precise_amount=10**29)
    assert (await verify_store(services.db)).consistent

    world = await shop.balance_id("@World", "EUR")
    await shift_balances(
        services.db, {shop.wallet: {"credit_balance": 1}, world: {"debit_balance": 1}}
    )
    await insert_rows(
        services.db,
        row(
            shop,
            kind=Kind.COMMIT,
            currency="EUR",
            parent_transaction=hold.transaction_id,
            source=shop.wallet,
            destination=world,
            precise_amount=huge,
        ),
    )
    report = await verify_store(services.db)

    found = {(d.subject, d.field): d for d in report.discrepancies}
    wallet = found[(shop.wallet, "credit_balance")]
    assert (wallet.expected, wallet.actual) == (huge, huge + 1)
    over = found[(hold.transaction_id, "precise_amount")]
    assert (over.expected, over.actual) == (huge - 1, 2 * 10**29 + huge)


async def test_sums_beyond_64_bits_of_64_bit_amounts_stay_exact(services: Services) -> None:
    shop = await open_shop(services)
    big = 2**62 + 11  # each row fits 64 bits; their sum does not (SQLite's SUM would overflow)
    for _ in range(3):
        await shop.post(
            precise_amount=big, currency="EUR", source="@World", destination=shop.wallet
        )
    [hold] = await shop.post(
        precise_amount=big, currency="EUR", source=shop.wallet, destination="@World", inflight=True
    )
    await services.engine.commit(hold.transaction_id, precise_amount=big - 1)
    world = await shop.balance_id("@World", "EUR")
    assert (await verify_store(services.db)).consistent

    await insert_rows(
        services.db,
        row(
            shop,
            kind=Kind.COMMIT,
            currency="EUR",
            parent_transaction=hold.transaction_id,
            source=shop.wallet,
            destination=world,
            precise_amount=big,
        ),
    )
    report = await verify_store(services.db)

    found = {(d.subject, d.field): d for d in report.discrepancies}
    debit = found[(shop.wallet, "debit_balance")]
    assert (debit.expected, debit.actual) == (2 * big - 1, big - 1)
    over = found[(hold.transaction_id, "precise_amount")]
    assert (over.expected, over.actual) == (big, 2 * big - 1)


async def test_a_hold_settled_past_64_bits_through_strangers_is_still_summed_exactly(
    services: Services,
) -> None:
    shop = await open_shop(services)
    now = services.clock.now()
    async with services.db.read() as conn:
        ledger = (await ledger_repo.get_balance(conn, shop.wallet)).ledger_id
    strangers = [BalanceRecord(new_id("bln"), ledger, "EUR", now) for _ in range(2)]
    async with services.db.write() as conn:
        for stranger in strangers:
            await ledger_repo.insert_balance(conn, stranger, now=now)
    big = 2**62
    await shop.post(precise_amount=big, currency="EUR", source="@World", destination=shop.wallet)
    [hold] = await shop.post(
        precise_amount=big, currency="EUR", source=shop.wallet, destination="@World", inflight=True
    )
    await services.engine.commit(hold.transaction_id, precise_amount=big)
    # a forged commit between two other balances: no balance's rows pass 64 bits, the hold's do
    await insert_rows(
        services.db,
        row(
            shop,
            kind=Kind.COMMIT,
            currency="EUR",
            parent_transaction=hold.transaction_id,
            source=strangers[0].balance_id,
            destination=strangers[1].balance_id,
            precise_amount=big,
        ),
    )

    report = await verify_store(services.db)

    holds = {d.field: d for d in by_check(report, "hold")}
    assert (holds["precise_amount"].expected, holds["precise_amount"].actual) == (big, 2 * big)
    assert "1 commit/void row(s)" in holds["parent_transaction"].message
