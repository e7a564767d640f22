"""``tally loyalty`` commands against a real store."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from tally.cli.main import app
from tally.services import Services
from tally.settings import Settings
from tally.store import loyalty_members, loyalty_payments, loyalty_programs

from .loyalty_helpers import EUR_RULE


async def _fill(url: str) -> str:
    services = Services.build(Settings(database_url=url, auto_migrate=False, run_workers=False))
    await services.start()
    try:
        program = await loyalty_programs.create_program(
            services, {"name": "CLI", "earning_rules": [EUR_RULE]}
        )
        customer = await loyalty_members.create_customer(services, {"name": "Eve"})
        account = await loyalty_members.create_account(
            services, {"program": program["id"], "customer": customer["id"]}
        )
        await loyalty_payments.create_payment(
            services,
            {"amount": 4200, "currency": "eur", "status": "completed", "customer": customer["id"]},
        )
        return str(account["id"])
    finally:
        await services.stop()


@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
def test_account_due_and_reconcile(store_url: str) -> None:
    account = asyncio.run(_fill(store_url))
    runner = CliRunner()
    shown = runner.invoke(app, ["loyalty", "account", account, "--database-url", store_url])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["balance"] == 42
    due = runner.invoke(app, ["loyalty", "due", "--database-url", store_url])
    assert json.loads(due.output) == {
        "vested_lots": 0,
        "released_redemptions": 0,
        "expired_points": 0,
    }
    report = runner.invoke(app, ["loyalty", "reconcile", "--database-url", store_url])
    assert report.exit_code == 0, report.output
    assert json.loads(report.output)["totals"] == {"earned": 42, "clawed_back": 0, "net_earned": 42}
