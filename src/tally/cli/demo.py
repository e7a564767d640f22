"""``tally demo``: the loyalty-points flow of Blnk's guide, posted through Tally's engine.

A loyalty ledger; Alice's POINTS balance; 100 points awarded from ``@Store`` as an inflight hold,
then committed; a 50-point redemption held, then voided. Each step is printed with Alice's balance
so a new user sees what inflight does to ``balance`` and ``available``. References carry a short
run tag, so the demo can run again on the same database.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from tally.core.ids import new_id
from tally.core.ledger.records import BalanceRecord, LedgerRecord
from tally.core.ledger.transfers import TransferRequest, plan_transfer
from tally.services import Services
from tally.settings import Settings
from tally.store import ledger_repo

Say = Callable[[str], Any]
POINTS = "POINTS"


async def run_demo(settings: Settings, say: Say) -> dict[str, str]:
    """Run the flow on ``settings.database_url``; return the ids it created."""
    services = Services.build(settings)
    await services.start()
    try:
        return await _flow(services, say, tag=uuid.uuid4().hex[:8])
    finally:
        await services.stop()


async def _flow(services: Services, say: Say, *, tag: str) -> dict[str, str]:
    ledger_id, alice = await _create_accounts(services, say)
    award = await _post(
        services,
        TransferRequest(
            amount=100,
            precision=1,
            reference=f"purchase-{tag}",
            description="Points for purchase",
            currency=POINTS,
            source="@Store",
            destination=alice,
            inflight=True,
            meta_data={"customer_name": "Alice", "purchase_id": f"purchase-{tag}"},
        ),
    )
    await _show(services, say, f"Awarded 100 {POINTS} from @Store, held inflight: {award}", alice)
    [commit] = await services.engine.commit(award)
    await _show(services, say, f"Committed the award: {commit.transaction_id}", alice)
    redemption = await _post(
        services,
        TransferRequest(
            amount=50,
            precision=1,
            reference=f"redemption-{tag}",
            description="Points redemption",
            currency=POINTS,
            source=alice,
            destination="@Store",
            inflight=True,
            meta_data={"customer_name": "Alice", "redemption_id": f"redemption-{tag}"},
        ),
    )
    await _show(services, say, f"Redemption of 50 {POINTS} held: {redemption}", alice)
    [void] = await services.engine.void(redemption)
    await _show(services, say, f"Voided the redemption: {void.transaction_id}", alice)
    say("")
    say("Look around:")
    say(f"  tally balances --ledger {ledger_id}")
    say(f"  tally transactions --balance {alice}")
    say("  tally verify")
    return {"ledger_id": ledger_id, "balance_id": alice, "award": award, "redemption": redemption}


async def _create_accounts(services: Services, say: Say) -> tuple[str, str]:
    now = services.clock.now()
    ledger = LedgerRecord(
        new_id("ldg"), "Customer Loyalty Points Ledger", now, {"project_name": "RetailStore App"}
    )
    alice = BalanceRecord(
        new_id("bln"),
        ledger.ledger_id,
        POINTS,
        now,
        meta_data={"customer_name": "Alice", "customer_internal_id": "5678"},
    )
    async with services.db.write() as conn:
        await ledger_repo.insert_ledger(conn, ledger, now=now)
        await ledger_repo.insert_balance(conn, alice, now=now)
    say(f"Created ledger {ledger.ledger_id} ({ledger.name})")
    say(f"Created Alice's {POINTS} balance {alice.balance_id}")
    return ledger.ledger_id, alice.balance_id


async def _post(services: Services, request: TransferRequest) -> str:
    plan = plan_transfer(request, now=services.clock.now())
    [record] = await services.engine.post(plan)
    return record.transaction_id


async def _show(services: Services, say: Say, step: str, balance_id: str) -> None:
    async with services.db.read() as conn:
        alice = await ledger_repo.get_balance(conn, balance_id)
    available = alice.balance - alice.inflight_debit_balance
    say(
        f"{step}\n    Alice: balance {alice.balance}, available {available}, "
        f"inflight {alice.inflight_balance} {POINTS}"
    )
