"""Blnk's official Python SDK against a real Tally server: lists (paged with limit/offset),
Typesense-style search and the filter API, as the SDK sends them."""

from __future__ import annotations

from typing import Any

from blnk_sdk import Blnk, BlnkErrorCode

from .blnk_support import check_balance, check_ledger, check_transaction, fund, new_balance, ok


def _page_until(list_call: Any, key: str, wanted: str, *, limit: int = 5) -> dict[str, Any]:
    """Page through a list with limit/offset until the item appears (as upstream's tests do)."""
    offset = 0
    while True:
        page = ok(list_call({"limit": limit, "offset": offset}))
        assert isinstance(page, list), page
        assert len(page) <= limit
        for item in page:
            if item[key] == wanted:
                return dict(item)
        assert len(page) == limit, f"{wanted} not found after {offset + len(page)} items"
        offset += limit


def _setup(blnk: Blnk, unique: str) -> dict[str, Any]:
    ledger = ok(
        blnk.ledgers.create({"name": f"search {unique}", "meta_data": {"tag": unique}}), 201
    )
    balance_id = new_balance(blnk, ledger["ledger_id"], meta_data={"tag": unique})
    credit = fund(blnk, balance_id, 42, reference=f"search-{unique}")
    identity = ok(
        blnk.identity.create(
            {"identity_type": "individual", "first_name": "Searchable", "last_name": unique}
        ),
        201,
    )
    return {"ledger": ledger, "balance_id": balance_id, "credit": credit, "identity": identity}


def test_lists_are_bare_arrays_paged_with_limit_and_offset(blnk: Blnk, unique: str) -> None:
    made = _setup(blnk, unique)
    for n in range(6):  # more than one page of ledgers
        ok(blnk.ledgers.create({"name": f"filler {unique} {n}"}), 201)

    ledger = _page_until(blnk.ledgers.list, "ledger_id", made["ledger"]["ledger_id"])
    check_ledger(ledger)
    assert ledger["name"] == f"search {unique}"

    balance = _page_until(blnk.ledger_balances.list, "balance_id", made["balance_id"])
    check_balance(balance)
    assert balance["balance"] == 4200

    txn = _page_until(blnk.transactions.list, "transaction_id", made["credit"]["transaction_id"])
    check_transaction(txn)
    assert txn["reference"] == f"search-{unique}"

    default_page = ok(blnk.ledgers.list())
    assert isinstance(default_page, list) and 1 <= len(default_page) <= 10
    identities = ok(blnk.identity.list())
    assert isinstance(identities, list)
    assert all("identity_id" in item for item in identities)


def test_newest_first_in_lists(blnk: Blnk, unique: str) -> None:
    first = ok(blnk.ledgers.create({"name": f"older {unique}"}), 201)["ledger_id"]
    second = ok(blnk.ledgers.create({"name": f"newer {unique}"}), 201)["ledger_id"]
    page = ok(blnk.ledgers.list({"limit": 2, "offset": 0}))
    assert [item["ledger_id"] for item in page] == [second, first]


def test_search_transactions_by_reference_and_filter_by(blnk: Blnk, unique: str) -> None:
    made = _setup(blnk, unique)
    result = ok(
        blnk.search.search(
            {
                "q": f"search-{unique}",
                "query_by": "reference",
                "filter_by": "currency:=USD",
                "sort_by": "created_at:desc",
                "page": 1,
                "per_page": 10,
            },
            "transactions",
        )
    )
    assert {"found", "out_of", "page", "hits"} <= result.keys()
    assert result["found"] == 1
    assert result["page"] == 1
    document = result["hits"][0]["document"]
    assert document["transaction_id"] == made["credit"]["transaction_id"]
    assert document["reference"] == f"search-{unique}"
    assert isinstance(document["created_at"], int)  # Typesense documents carry Unix seconds


def test_search_every_collection(blnk: Blnk, unique: str) -> None:
    made = _setup(blnk, unique)
    ledgers = ok(blnk.search.search({"q": f"search {unique}", "query_by": "name"}, "ledgers"))
    assert [h["document"]["ledger_id"] for h in ledgers["hits"]] == [made["ledger"]["ledger_id"]]

    balances = ok(
        blnk.search.search({"q": "*", "filter_by": f"balance_id:={made['balance_id']}"}, "balances")
    )
    assert balances["found"] == 1
    assert str(balances["hits"][0]["document"]["balance"]) == "4200"

    identities = ok(blnk.search.search({"q": unique, "query_by": "last_name"}, "identities"))
    assert [h["document"]["identity_id"] for h in identities["hits"]] == [
        made["identity"]["identity_id"]
    ]

    nothing = ok(
        blnk.search.search({"q": f"absent-{unique}", "query_by": "reference"}, "transactions")
    )
    assert (nothing["found"], nothing["hits"]) == (0, [])


def test_filter_transactions_with_the_sdk_body(blnk: Blnk, unique: str) -> None:
    made = _setup(blnk, unique)
    hold = ok(
        blnk.transactions.create(
            {
                "amount": 2,
                "precision": 100,
                "currency": "USD",
                "reference": f"held-{unique}",
                "description": "hold",
                "source": made["balance_id"],
                "destination": "@Merchant",
                "inflight": True,
                "skip_queue": True,
            }
        ),
        201,
    )
    result = ok(
        blnk.search.filter(
            {
                "filters": [
                    {"field": "status", "operator": "in", "values": ["APPLIED", "INFLIGHT"]},
                    {"field": "balance_id", "operator": "eq", "value": made["balance_id"]},
                ],
                "logical_operator": "and",
                "sort_by": "created_at",
                "sort_order": "desc",
                "limit": 10,
                "offset": 0,
                "include_count": True,
            },
            "transactions",
        )
    )
    assert result["total_count"] == 2
    assert [t["transaction_id"] for t in result["data"]] == [
        hold["transaction_id"],
        made["credit"]["transaction_id"],
    ]

    balances = ok(
        blnk.search.filter(
            {
                "filters": [{"field": "meta_data.tag", "operator": "eq", "value": unique}],
                "include_count": True,
            },
            "balances",
        )
    )
    assert [b["balance_id"] for b in balances["data"]] == [made["balance_id"]]

    ledgers = ok(
        blnk.search.filter(
            {
                "filters": [{"field": "name", "operator": "like", "value": f"%search {unique}%"}],
            },
            "ledgers",
        )
    )
    rows = ledgers["data"] if isinstance(ledgers, dict) else ledgers
    assert [row["ledger_id"] for row in rows] == [made["ledger"]["ledger_id"]]


def test_bad_filter_is_a_400_with_a_code(blnk: Blnk) -> None:
    resp = blnk.search.filter(
        {"filters": [{"field": "no_such_field", "operator": "eq", "value": "x"}]}, "transactions"
    )
    assert resp.status == 400, resp
    assert resp.error is not None and resp.error.code == BlnkErrorCode.GEN_BAD_REQUEST
