"""Seed 000 (Blnk ledger for loyalty points), its NodeJS snippets run unchanged against Tally.

The snippets in ``node/seed000/`` are the seed's code, byte for byte. ``node/run_snippet.cjs``
runs each with the real ``request`` package, pointing the seed's ``http://localhost:5001`` at the
test server and replacing the placeholder ids the seed shows with the ones Tally returned. The
seed then asks to commit (or void) the inflight transactions and computes the available balance
as ``balance - inflight_debit_balance``.
"""

from __future__ import annotations

import json
import shutil
from typing import Any

import httpx

from .harness import NODE_DIR, run_node

SEED_LEDGER_ID = "ldg_12345678-90ab-cdef-1234-567890abcdef"
SEED_BALANCE_ID = "bln_9f8d7e6c-5b4a-4c9d-8a7e-6f5b4a8c9d7e"
LEDGER_FIELDS = {"ledger_id", "name", "created_at", "meta_data"}
BALANCE_FIELDS = {
    "balance",
    "version",
    "inflight_balance",
    "credit_balance",
    "inflight_credit_balance",
    "debit_balance",
    "inflight_debit_balance",
    "precision",
    "ledger_id",
    "identity_id",
    "balance_id",
    "indicator",
    "currency",
    "created_at",
    "meta_data",
}
TRANSACTION_FIELDS = {
    "transaction_id",
    "amount",
    "precision",
    "precise_amount",
    "reference",
    "description",
    "currency",
    "status",
    "source",
    "destination",
    "created_at",
    "meta_data",
}


def run_snippet(base_url: str, name: str, ids: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``node/seed000/<name>``; return its one HTTP exchange."""
    assert shutil.which("node"), "node (>= 18) is needed for the seed snippet tests"
    result, _ = run_node(
        NODE_DIR / "run_snippet.cjs",
        {"TALLY_BASE_URL": base_url, "SNIPPET_IDS": json.dumps(ids or {})},
        args=[f"seed000/{name}"],
    )
    assert len(result["exchanges"]) == 1, result
    exchange: dict[str, Any] = result["exchanges"][0]
    assert exchange["error"] is None, exchange
    # The snippet prints the response body, as the seed shows.
    assert result["printed"] == [exchange["raw_body"]]
    return exchange


def available(balance: dict[str, Any]) -> int:
    """The seed's formula: ``const availableBalance = balance - inflight_debit_balance;``"""
    return int(balance["balance"]) - int(balance["inflight_debit_balance"])


def test_seed_snippets_are_the_seed_code() -> None:
    snippets = sorted((NODE_DIR / "seed000").glob("*.js"))
    assert [p.name for p in snippets] == [
        "01_create_ledger.js",
        "02_create_balance.js",
        "03_award_points.js",
        "04_redeem_points.js",
    ]
    for path in snippets:
        text = path.read_text()
        assert "const request = require('request');" in text
        assert "http://localhost:5001/" in text  # unchanged: the runner redirects it


def test_loyalty_points_flow_from_the_seed(base_url: str) -> None:
    http = httpx.Client(base_url=base_url, timeout=30)

    def balance(balance_id: str) -> dict[str, Any]:
        response = http.get(f"/balances/{balance_id}")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    # 1. Ledger: the snippet sends a placeholder Authorization header; without a master key the
    # server (loopback only) lets it through.
    created = run_snippet(base_url, "01_create_ledger.js")
    assert created["headers"]["Authorization"] == "YOUR_AUTH_TOKEN_HERE"
    assert created["status"] == 201, created
    ledger = created["body"]
    assert ledger.keys() >= LEDGER_FIELDS
    assert ledger["ledger_id"].startswith("ldg_")
    assert ledger["name"] == "Customer Loyalty Points Ledger"
    assert ledger["meta_data"] == {"project_name": "RetailStore App"}

    # 2. Alice's points balance, in the ledger the server returned.
    made = run_snippet(base_url, "02_create_balance.js", {SEED_LEDGER_ID: ledger["ledger_id"]})
    assert made["request_body"]["ledger_id"] == ledger["ledger_id"]
    assert made["status"] == 201, made
    alice = made["body"]
    assert alice.keys() >= BALANCE_FIELDS
    assert alice["balance_id"].startswith("bln_")
    assert alice["currency"] == "POINTS"
    assert alice["ledger_id"] == ledger["ledger_id"]
    assert alice["meta_data"] == {"customer_internal_id": "5678", "customer_name": "Alice"}
    assert [
        alice[k]
        for k in (
            "balance",
            "inflight_balance",
            "credit_balance",
            "inflight_credit_balance",
            "debit_balance",
            "inflight_debit_balance",
        )
    ] == [0] * 6
    alice_id = alice["balance_id"]
    ids = {SEED_BALANCE_ID: alice_id}

    # 3. Award 100 points, inflight, from @Store (an indicator balance: it may go below zero).
    award = run_snippet(base_url, "03_award_points.js", ids)
    assert award["headers"]["X-Blnk-Key"] == "blnk-api"
    assert award["status"] == 201, award
    award_txn = award["body"]
    assert award_txn.keys() >= TRANSACTION_FIELDS
    assert award_txn["status"] == "INFLIGHT"
    assert (award_txn["amount"], award_txn["precision"], award_txn["precise_amount"]) == (
        100,
        1,
        100,
    )
    assert award_txn["reference"] == "purchase-001"
    assert award_txn["description"] == "Points for purchase"
    assert award_txn["currency"] == "POINTS"
    assert award_txn["destination"] == alice_id
    assert award_txn["meta_data"] == {"customer_name": "Alice", "purchase_id": "purchase-001"}
    store = http.get("/balances/indicator/%40Store/currency/POINTS")
    assert store.status_code == 200, store.text
    store_id = store.json()["balance_id"]
    assert award_txn["source"] in ("@Store", store_id)
    held = balance(alice_id)
    assert (held["balance"], held["inflight_credit_balance"], available(held)) == (0, 100, 0)

    # The seed: "you need to commit or void the transaction". Commit the award.
    committed = http.put(
        f"/transactions/inflight/{award_txn['transaction_id']}", json={"status": "commit"}
    )
    assert committed.status_code == 200, committed.text
    assert committed.json()["status"] == "APPLIED"
    after_award = balance(alice_id)
    assert (after_award["balance"], after_award["inflight_credit_balance"]) == (100, 0)
    assert available(after_award) == 100

    # 4. Redeem 50 points, inflight: the points are held, not spendable twice.
    redeem = run_snippet(base_url, "04_redeem_points.js", ids)
    assert redeem["status"] == 201, redeem
    redeem_txn = redeem["body"]
    assert redeem_txn.keys() >= TRANSACTION_FIELDS
    assert redeem_txn["status"] == "INFLIGHT"
    assert redeem_txn["precise_amount"] == 50
    assert redeem_txn["source"] == alice_id
    assert redeem_txn["destination"] in ("@Store", store_id)
    assert redeem_txn["meta_data"] == {"customer_name": "Alice", "redemption_id": "redemption-001"}
    holding = balance(alice_id)
    assert (holding["balance"], holding["inflight_debit_balance"]) == (100, 50)
    assert available(holding) == 50

    committed = http.put(
        f"/transactions/inflight/{redeem_txn['transaction_id']}", json={"status": "commit"}
    )
    assert committed.status_code == 200, committed.text
    final = balance(alice_id)
    assert (final["balance"], final["inflight_debit_balance"], available(final)) == (50, 0, 50)
    assert balance(store_id)["balance"] == -50  # every currency sums to zero

    # Running a snippet twice does not award twice: references are unique.
    again = run_snippet(base_url, "03_award_points.js", ids)
    assert again["status"] == 409, again
    assert again["body"]["error_detail"]["code"] == "TXN_DUPLICATE_REFERENCE"
    assert balance(alice_id)["balance"] == 50
    http.close()


def test_a_voided_redemption_gives_the_points_back(base_url: str, unique: str) -> None:
    """The seed's other branch ("commit or void"), on a fresh balance with its own references."""
    http = httpx.Client(base_url=base_url, timeout=30)
    ledger = http.post("/ledgers", json={"name": f"void branch {unique}"}).json()
    alice = http.post(
        "/balances", json={"ledger_id": ledger["ledger_id"], "currency": "POINTS"}
    ).json()
    award = http.post(
        "/transactions",
        json={
            "amount": 100,
            "precision": 1,
            "reference": f"purchase-{unique}",
            "description": "Points for purchase",
            "currency": "POINTS",
            "source": "@Store",
            "destination": alice["balance_id"],
            "inflight": False,
        },
    )
    assert award.status_code == 201, award.text
    redeem = http.post(
        "/transactions",
        json={
            "amount": 50,
            "precision": 1,
            "reference": f"redemption-{unique}",
            "description": "Points redemption",
            "currency": "POINTS",
            "source": alice["balance_id"],
            "destination": "@Store",
            "inflight": True,
        },
    )
    assert redeem.status_code == 201, redeem.text
    voided = http.put(
        f"/transactions/inflight/{redeem.json()['transaction_id']}", json={"status": "void"}
    )
    assert voided.status_code == 200, voided.text
    assert voided.json()["status"] == "VOID"
    restored = http.get(f"/balances/{alice['balance_id']}").json()
    assert (restored["balance"], restored["inflight_debit_balance"]) == (100, 0)
    assert restored["balance"] - restored["inflight_debit_balance"] == 100
    http.close()
