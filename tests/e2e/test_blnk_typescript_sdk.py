"""Blnk's official TypeScript SDK (@blnkfinance/blnk-typescript 1.3.0) against a real server.

``node/sdk_flow.mjs`` runs one ledger flow through the SDK and prints every response; the tests
below check them. The TS SDK has no list calls, so lookups go by id, reference and search.
"""

from __future__ import annotations

import shutil
import uuid
from typing import Any

import pytest

from .blnk_support import (
    ZERO_TIME,
    amounts,
    check_balance,
    check_ledger,
    check_transaction,
)
from .harness import NODE_DIR, run_node


@pytest.fixture(scope="module")
def flow(base_url: str) -> dict[str, Any]:
    assert shutil.which("node"), "node (>= 18) is needed for the TypeScript SDK tests"
    assert (NODE_DIR / "node_modules" / "@blnkfinance" / "blnk-typescript").is_dir(), (
        "run `npm ci` in tests/e2e/node first"
    )
    result, _ = run_node(
        NODE_DIR / "sdk_flow.mjs",
        {"TALLY_BASE_URL": base_url, "TALLY_TAG": uuid.uuid4().hex[:10]},
    )
    assert result["failure"] is None, result["failure"]
    return dict(result)


def _ok(flow: dict[str, Any], name: str, status: int = 200) -> Any:
    step = flow["steps"][name]
    assert step["status"] == status, (name, step)
    assert step["code"] is None, (name, step)
    return step["data"]


def _failed(flow: dict[str, Any], name: str, status: int, code: str) -> None:
    step = flow["steps"][name]
    assert (step["status"], step["code"]) == (status, code), (name, step)
    assert step["message"] and step["data"]["error_detail"]["message"] == step["message"]


def test_ledgers_and_balances(flow: dict[str, Any]) -> None:
    assert _ok(flow, "health") == {"status": "UP"}
    ledger = _ok(flow, "ledger_create", 201)
    check_ledger(ledger)
    assert ledger["meta_data"] == {"sdk": "typescript"}
    assert _ok(flow, "ledger_get") == ledger
    assert _ok(flow, "ledger_update")["name"].startswith("TS renamed ")

    alice = _ok(flow, "balance_create", 201)
    check_balance(alice)
    assert set(amounts(alice).values()) == {0}
    assert alice["meta_data"] == {"who": "alice"}
    indicator = _ok(flow, "indicator_get")
    check_balance(indicator)
    assert indicator["ledger_id"] == "general_ledger_id"
    assert indicator["balance"] == -10000
    gl = _ok(flow, "gl_indicator_create", 201)
    assert gl["indicator"].startswith("@TsGl")
    _failed(flow, "gl_indicator_duplicate", 409, "GEN_CONFLICT")


def test_inflight_partial_commits_and_void(flow: dict[str, Any]) -> None:
    hold = _ok(flow, "hold", 201)
    check_transaction(hold)
    assert hold["status"] == "INFLIGHT"
    during = _ok(flow, "balance_during_hold")
    assert (during["balance"], during["inflight_debit_balance"]) == (10000, 8000)

    by_amount = _ok(flow, "commit_partial_amount")
    assert (by_amount["status"], by_amount["precise_amount"]) == ("APPLIED", 3000)
    assert by_amount["parent_transaction"] == hold["transaction_id"]
    by_precise = _ok(flow, "commit_partial_precise")
    assert (by_precise["status"], by_precise["precise_amount"]) == ("APPLIED", 1000)
    _failed(flow, "commit_exceeded", 400, "TXN_COMMIT_AMOUNT_EXCEEDED")
    void = _ok(flow, "void")
    assert (void["status"], void["precise_amount"]) == ("VOID", 4000)
    _failed(flow, "commit_after_void", 409, "TXN_ALREADY_VOIDED")

    assert _ok(flow, "commit_full")["precise_amount"] == 500
    _failed(flow, "commit_again", 409, "TXN_ALREADY_COMMITTED")


def test_refund_and_lookups(flow: dict[str, Any]) -> None:
    paid = _ok(flow, "pay", 201)
    check_transaction(paid)
    assert paid["amount"] == 7.5 and paid["precise_amount"] == 750
    assert paid["scheduled_for"] == ZERO_TIME
    fetched = _ok(flow, "get")
    assert fetched["transaction_id"] == paid["transaction_id"]
    by_reference = _ok(flow, "get_by_reference")
    assert by_reference["transaction_id"] == paid["transaction_id"]
    assert by_reference["reference"].startswith("ts/pay ")

    refund = _ok(flow, "refund", 201)
    check_transaction(refund)
    assert refund["parent_transaction"] == paid["transaction_id"]
    assert (refund["source"], refund["destination"]) == (paid["destination"], paid["source"])
    assert refund["meta_data"] == {"order": paid["meta_data"]["order"]}
    _failed(flow, "refund_again", 409, "TXN_ALREADY_REFUNDED")


def test_bulk_and_bulk_settlement(flow: dict[str, Any]) -> None:
    batch = _ok(flow, "bulk_atomic", 201)
    assert batch["batch_id"] and batch["transaction_count"] == 2
    first, second = _ok(flow, "bulk_item_1"), _ok(flow, "bulk_item_2")
    assert first["status"] == second["status"] == "INFLIGHT"
    assert first["parent_transaction"] == second["parent_transaction"] == batch["batch_id"]
    committed = _ok(flow, "bulk_commit")
    assert (committed["succeeded"], committed["failed"]) == (1, 0)
    assert committed["results"][0]["transaction_id"] == first["transaction_id"]
    assert committed["results"][0]["status"] == "succeeded"
    voided = _ok(flow, "bulk_void")
    assert (voided["succeeded"], voided["failed"]) == (1, 0)


def test_metadata_history_and_final_balances(flow: dict[str, Any]) -> None:
    assert _ok(flow, "meta_ledger")["meta_data"] == {"sdk": "typescript", "region": "eu"}
    assert _ok(flow, "meta_balance")["meta_data"] == {"who": "alice", "tier": "gold"}
    merged = _ok(flow, "meta_transaction")["meta_data"]
    assert merged == {"order": merged["order"], "checked": True}
    assert _ok(flow, "get_after_meta")["meta_data"] == merged

    assert _ok(flow, "at_before")["balance"]["balance"] == 0
    assert _ok(flow, "at_after")["balance"]["balance"] == 300

    alice, bob = _ok(flow, "final_alice"), _ok(flow, "final_bob")
    # 100.00 funded; 30 + 10 + 5 committed; 7.50 paid then refunded; 1.00 bulk-committed.
    assert (alice["balance"], alice["inflight_debit_balance"], alice["inflight_balance"]) == (
        5400,
        0,
        0,
    )
    assert (alice["credit_balance"], alice["debit_balance"]) == (10000 + 750, 5350)
    # bob: 4500 received and kept, 3.00 back-dated credit; the refund debited 7.50.
    assert (bob["balance"], bob["credit_balance"], bob["debit_balance"]) == (4900, 5650, 750)
    assert bob["inflight_credit_balance"] == 0


def test_errors_are_surfaced_with_their_codes(flow: dict[str, Any]) -> None:
    _failed(flow, "err_ledger", 404, "LGR_NOT_FOUND")
    _failed(flow, "err_balance", 404, "BAL_NOT_FOUND")
    _failed(flow, "err_txn", 404, "TXN_NOT_FOUND")
    _failed(flow, "err_duplicate", 409, "TXN_DUPLICATE_REFERENCE")
    _failed(flow, "err_funds", 400, "TXN_INSUFFICIENT_FUNDS")
    _failed(flow, "err_reference", 404, "TXN_NOT_FOUND")


def test_search_and_filter(flow: dict[str, Any]) -> None:
    hold_id = flow["ids"]["hold"]
    search = _ok(flow, "search")
    assert {"found", "out_of", "page", "hits"} <= search.keys()
    found = [hit["document"] for hit in search["hits"]]
    assert hold_id in [doc["transaction_id"] for doc in found]
    reference = _ok(flow, "hold", 201)["reference"]
    assert all(reference in doc["reference"] for doc in found)
    assert search["found"] == len(found)

    filtered = _ok(flow, "filter")
    rows = filtered["data"]
    assert hold_id in [row["transaction_id"] for row in rows]
    assert all(row["status"] == "INFLIGHT" for row in rows)
    assert all(flow["ids"]["alice"] in (row["source"], row["destination"]) for row in rows)
    assert filtered["total_count"] == len(rows)
