"""``tally.Ledger``: the ledger embedded in a Python program, on both stores."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import tally
from tally.core.errors import DuplicateReference, InsufficientFunds, InvalidAmount


async def test_a_shop_keeps_its_wallets_in_an_embedded_ledger(store_url: str) -> None:
    async with tally.Ledger.open(store_url, migrate=False) as ledger:
        wallet = (await ledger.create_balance("USD")).balance_id
        await ledger.transfer(
            "@World", wallet, 10_00, currency="USD", precision=100, reference="top-up-1"
        )
        hold = await ledger.transfer(
            wallet,
            "@Shop",
            4_00,
            currency="USD",
            precision=100,
            reference="order-7",
            inflight=True,
        )
        assert (await ledger.balance(wallet)).inflight_debit_balance == 4_00

        captured = await ledger.commit(hold.transaction_id, 3_00)
        released = await ledger.void(hold.transaction_id)

        assert (captured.precise_amount, released.precise_amount) == (3_00, 1_00)
        shown = await ledger.balance(wallet)
        assert (shown.balance, shown.inflight_debit_balance) == (7_00, 0)
        assert (await ledger.transaction(captured.transaction_id)).parent_transaction == (
            hold.transaction_id
        )
        with pytest.raises(InsufficientFunds):
            await ledger.transfer(wallet, "@Shop", 8_00, currency="USD", reference="order-8")
        with pytest.raises(DuplicateReference):
            await ledger.transfer("@World", wallet, 1, currency="USD", reference="top-up-1")
        with pytest.raises(InvalidAmount):
            await ledger.transfer("@World", wallet, 1.5, currency="USD", reference="x")  # type: ignore[arg-type]
        refund = await ledger.refund(captured.transaction_id)
        assert (await ledger.balance(wallet)).balance == 10_00
        assert refund.parent_transaction == captured.transaction_id
        assert (await ledger.verify()).consistent


async def test_concurrent_calls_from_many_tasks_are_grouped(store_url: str) -> None:
    async with tally.Ledger.open(store_url, migrate=False) as ledger:
        members = [(await ledger.create_balance("PTS")).balance_id for _ in range(10)]
        batches = ledger.engine.batches

        await asyncio.gather(
            *(
                ledger.transfer(
                    "@Program", members[i % 10], 25, currency="PTS", reference=f"earn-{i}"
                )
                for i in range(200)
            )
        )

        assert ledger.engine.batches - batches < 100
        assert sum([(await ledger.balance(m)).balance for m in members]) == 200 * 25
        assert (await ledger.verify()).consistent


async def test_many_transfers_at_once_atomic_or_each_on_its_own(store_url: str) -> None:
    async with tally.Ledger.open(store_url, migrate=False) as ledger:
        alice, bob = [(await ledger.create_balance("EUR")).balance_id for _ in range(2)]
        fund = tally.Transfer("@World", alice, 50, "EUR", "fund")
        too_much = tally.Transfer(alice, bob, 80, "EUR", "pay")

        with pytest.raises(InsufficientFunds):
            await ledger.transfer_many([fund, too_much], atomic=True)
        assert (await ledger.balance(alice)).balance == 0

        outcomes = await ledger.transfer_many([fund, too_much], atomic=False)
        assert not isinstance(outcomes[0], Exception)
        assert isinstance(outcomes[1], InsufficientFunds)

        preview = await ledger.preview(tally.Transfer(alice, bob, 20, "EUR", "pay-2"))
        assert preview.would_apply and preview.after[alice].balance == 30
        assert (await ledger.balance(alice)).balance == 50


async def test_opening_a_new_file_creates_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    async with tally.Ledger.open(url) as ledger:
        book = await ledger.create_ledger("Shop")
        wallet = await ledger.create_balance("USD", ledger_id=book.ledger_id)
        await ledger.transfer("@World", wallet.balance_id, 5, currency="USD", reference="r")
    async with tally.Ledger.open(url) as reopened:
        assert (await reopened.balance(wallet.balance_id)).balance == 5
