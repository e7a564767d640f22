"""Worked examples over HTTP on both stores: Blnk's compatibility checks, then Tally's improvements.

Numbers follow Blnk's reference checks (a fresh ledger, USD, cents at precision 100). Tally answers
synchronously, so every example asserts the final status (``APPLIED`` / ``INFLIGHT``) at once;
``skip_queue`` is sent as Blnk clients send it and has no effect.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

Client = Any
pytestmark = pytest.mark.asyncio


async def ledger(client: Client, name: str = "Wallets") -> str:
    response = await client.post("/ledgers", json={"name": name})
    assert response.status_code == 201, response.text
    return str(response.json()["ledger_id"])


async def balance(client: Client, ledger_id: str, currency: str = "USD") -> str:
    response = await client.post("/balances", json={"ledger_id": ledger_id, "currency": currency})
    assert response.status_code == 201, response.text
    return str(response.json()["balance_id"])


async def post(client: Client, **body: Any) -> Any:
    payload = {"precision": 100, "currency": "USD", "description": "test", "skip_queue": True}
    return await client.post("/transactions", json={**payload, **body})


async def fund(client: Client, balance_id: str, amount: float, reference: str) -> dict[str, Any]:
    response = await post(
        client,
        amount=amount,
        reference=reference,
        source="@World",
        destination=balance_id,
        allow_overdraft=True,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def shown(client: Client, balance_id: str) -> dict[str, Any]:
    response = await client.get(f"/balances/{balance_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def world(client: Client, currency: str = "USD") -> dict[str, Any]:
    response = await client.get(f"/balances/indicator/@World/currency/{currency}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def code(response: Any) -> str:
    return str(response.json()["error_detail"]["code"])


async def by_reference(client: Client, reference: str) -> Any:
    return await client.get(f"/transactions/reference/{reference}")


# ---- Blnk check 1: ledgers and balances ---------------------------------------------------------


async def test_check_1_a_new_ledger_and_an_empty_balance(client: Client) -> None:
    created = await client.post("/ledgers", json={"name": "L"})
    assert created.status_code == 201 and created.json()["ledger_id"].startswith("ldg_")
    nameless = await client.post("/ledgers", json={})
    assert nameless.status_code == 400
    assert nameless.json()["errors"] == "name: cannot be blank."
    assert code(nameless) == "GEN_VALIDATION_ERROR"
    account = await client.post(
        "/balances", json={"ledger_id": created.json()["ledger_id"], "currency": "USD"}
    )
    assert account.status_code == 201 and account.json()["balance_id"].startswith("bln_")
    amounts = (
        "balance",
        "credit_balance",
        "debit_balance",
        "inflight_balance",
        "inflight_credit_balance",
        "inflight_debit_balance",
    )
    assert all(account.json()[name] == 0 and type(account.json()[name]) is int for name in amounts)
    outside_general_ledger = await client.post(
        "/balances",
        json={"ledger_id": created.json()["ledger_id"], "currency": "USD", "indicator": "@x"},
    )
    assert outside_general_ledger.status_code == 400


# ---- Blnk check 2: funding from the outside world ----------------------------------------------


async def test_check_2_alice_is_funded_with_100_dollars_and_50_cents_from_world(
    client: Client,
) -> None:
    alice = await balance(client, await ledger(client))
    funded = await fund(client, alice, 100.5, "r1")
    assert funded["status"] == "APPLIED" and funded["precise_amount"] == 10050
    after = await shown(client, alice)
    assert (after["balance"], after["credit_balance"], after["debit_balance"]) == (10050, 10050, 0)
    assert after["version"] >= 1
    outside = await world(client)
    assert outside["balance"] == -10050 and outside["ledger_id"] == "general_ledger_id"
    assert funded["destination"] == alice and funded["source"] == outside["balance_id"]


# ---- Blnk check 3: insufficient funds ----------------------------------------------------------


async def test_check_3_an_empty_balance_cannot_pay(client: Client) -> None:
    wallets = await ledger(client)
    alice, shop = await balance(client, wallets), await balance(client, wallets)
    refused = await post(client, amount=100.5, reference="r3", source=alice, destination=shop)
    assert refused.status_code == 400 and code(refused) == "TXN_INSUFFICIENT_FUNDS"
    assert "has 0 available, 10050 requested" in refused.json()["error"]
    assert (await by_reference(client, "r3")).status_code == 404
    assert (await shown(client, alice))["balance"] == 0
    assert (await shown(client, shop))["balance"] == 0


# ---- Blnk check 6: a reference is used once -----------------------------------------------------


async def test_check_6_the_same_reference_twice_is_a_conflict(client: Client) -> None:
    alice = await balance(client, await ledger(client))
    await fund(client, alice, 10, "gift-1")
    again = await post(
        client,
        amount=10,
        reference="gift-1",
        source="@World",
        destination=alice,
        allow_overdraft=True,
    )
    assert again.status_code == 409 and code(again) == "TXN_DUPLICATE_REFERENCE"
    assert (await shown(client, alice))["balance"] == 1000


# ---- Blnk check 7: amounts and precision --------------------------------------------------------


async def test_check_7_amount_and_precision_rules(client: Client) -> None:
    alice = await balance(client, await ledger(client))
    both = await post(
        client, amount=1, precise_amount=100, reference="p1", source="@World", destination=alice
    )
    assert both.status_code == 400 and code(both) == "TXN_VALIDATION_ERROR"
    fractional = await post(
        client, amount=1, precision=2.5, reference="p2", source="@World", destination=alice
    )
    assert fractional.status_code == 400 and code(fractional) == "TXN_PRECISION_NOT_INTEGER"
    big = await post(
        client,
        precise_amount=123456789012345678901,
        reference="p3",
        source="@World",
        destination=alice,
    )
    assert big.status_code == 201, big.text
    assert big.json()["amount_string"] == "1234567890123456789.01"
    assert big.json()["precise_amount"] == 123456789012345678901
    assert (await shown(client, alice))["balance"] == 123456789012345678901
    too_precise = await post(
        client, amount=1234567890.123456, reference="p4", source="@World", destination=alice
    )
    assert too_precise.status_code == 400
    assert (await shown(client, alice))["balance"] == 123456789012345678901


# ---- Blnk check 8: no paying yourself -----------------------------------------------------------


async def test_check_8_a_balance_cannot_pay_itself(client: Client) -> None:
    alice = await balance(client, await ledger(client))
    refused = await post(client, amount=1, reference="self", source=alice, destination=alice)
    assert refused.status_code == 400 and code(refused) == "TXN_VALIDATION_ERROR"
    assert "source and destination cannot be the same balance" in refused.json()["error"]


# ---- Blnk check 9: a card hold, committed in part, then voided ---------------------------------


async def test_check_9_hotel_holds_80_dollars_charges_30_and_releases_the_rest(
    client: Client,
) -> None:
    wallets = await ledger(client)
    guest, hotel = await balance(client, wallets), await balance(client, wallets)
    await fund(client, guest, 100, "deposit")
    held = await post(
        client, amount=80, reference="room-hold", source=guest, destination=hotel, inflight=True
    )
    assert held.status_code == 201 and held.json()["status"] == "INFLIGHT"
    hold_id = held.json()["transaction_id"]
    during = await shown(client, guest)
    assert (during["balance"], during["inflight_debit_balance"], during["inflight_balance"]) == (
        10000,
        8000,
        -8000,
    )
    assert during["available_balance"] == 2000
    assert (await shown(client, hotel))["inflight_credit_balance"] == 8000

    charged = await client.put(
        f"/transactions/inflight/{hold_id}",
        json={"status": "commit", "amount": 30, "skip_queue": True},
    )
    assert charged.status_code == 200, charged.text
    assert charged.json()["status"] == "APPLIED" and charged.json()["precise_amount"] == 3000
    assert charged.json()["parent_transaction"] == hold_id
    after_charge = await shown(client, guest)
    assert (after_charge["balance"], after_charge["inflight_debit_balance"]) == (7000, 5000)

    too_much = await client.put(
        f"/transactions/inflight/{hold_id}", json={"status": "commit", "amount": 60}
    )
    assert too_much.status_code == 400 and code(too_much) == "TXN_COMMIT_AMOUNT_EXCEEDED"

    released = await client.put(f"/transactions/inflight/{hold_id}", json={"status": "void"})
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "VOID" and released.json()["precise_amount"] == 5000
    after_void = await shown(client, guest)
    assert (after_void["balance"], after_void["inflight_debit_balance"]) == (7000, 0)
    assert (await shown(client, hotel))["balance"] == 3000

    again = await client.put(f"/transactions/inflight/{hold_id}", json={"status": "commit"})
    assert again.status_code == 409 and code(again) == "TXN_ALREADY_VOIDED"


async def test_check_9_a_fully_committed_hold_has_nothing_left(client: Client) -> None:
    wallets = await ledger(client)
    guest, hotel = await balance(client, wallets), await balance(client, wallets)
    await fund(client, guest, 100, "deposit")
    held = await post(
        client, amount=80, reference="hold", source=guest, destination=hotel, inflight=True
    )
    hold_id = held.json()["transaction_id"]
    full = await client.put(f"/transactions/inflight/{hold_id}", json={"status": "commit"})
    assert full.status_code == 200 and full.json()["precise_amount"] == 8000
    again = await client.put(f"/transactions/inflight/{hold_id}", json={"status": "commit"})
    assert again.status_code == 409 and code(again) == "TXN_ALREADY_COMMITTED"
    assert (await shown(client, guest))["balance"] == 2000


async def test_check_9_money_on_hold_cannot_be_spent_again(client: Client) -> None:
    wallets = await ledger(client)
    guest, hotel = await balance(client, wallets), await balance(client, wallets)
    await fund(client, guest, 100, "deposit")
    await post(client, amount=80, reference="hold", source=guest, destination=hotel, inflight=True)
    spend = await post(client, amount=20.01, reference="minibar", source=guest, destination=hotel)
    assert spend.status_code == 400 and code(spend) == "TXN_INSUFFICIENT_FUNDS"
    exact = await post(client, amount=20, reference="minibar-2", source=guest, destination=hotel)
    assert exact.status_code == 201


# ---- Blnk check 10: an overdraft limit --------------------------------------------------------


async def test_check_10_overdraft_limit_of_50_dollars(client: Client) -> None:
    wallets = await ledger(client)
    alice, shop = await balance(client, wallets), await balance(client, wallets)
    first = await post(
        client, amount=40, overdraft_limit=50, reference="od-1", source=alice, destination=shop
    )
    assert first.status_code == 201 and first.json()["status"] == "APPLIED"
    assert (await shown(client, alice))["balance"] == -4000
    second = await post(
        client, amount=20, overdraft_limit=50, reference="od-2", source=alice, destination=shop
    )
    assert second.status_code == 400
    assert "exceeds overdraft limit" in second.json()["error"]
    assert (await shown(client, alice))["balance"] == -4000
    unlimited = await post(
        client,
        amount=1_000_000,
        allow_overdraft=True,
        reference="od-3",
        source=alice,
        destination=shop,
    )
    assert unlimited.status_code == 201
    assert (await shown(client, alice))["balance"] == -4000 - 100_000_000


# ---- Blnk check 11: one payment, three destinations --------------------------------------------


async def test_check_11_ten_percent_twenty_dollars_and_the_rest(client: Client) -> None:
    wallets = await ledger(client)
    a, b, c = [await balance(client, wallets) for _ in range(3)]
    split = await post(
        client,
        amount=100,
        reference="split",
        source="@World",
        allow_overdraft=True,
        destinations=[
            {"identifier": a, "distribution": "10%"},
            {"identifier": b, "distribution": "20"},
            {"identifier": c, "distribution": "left"},
        ],
    )
    assert split.status_code == 201, split.text
    parent = split.json()["transaction_id"]
    assert [(await shown(client, x))["balance"] for x in (a, b, c)] == [1000, 2000, 7000]
    legs = [(await by_reference(client, ref)).json() for ref in ("split", "split-2", "split-3")]
    assert [leg["parent_transaction"] for leg in legs] == [parent] * 3
    assert [leg["precise_amount"] for leg in legs] == [1000, 2000, 7000]
    over = await post(
        client,
        amount=100,
        reference="split-over",
        source="@World",
        destinations=[
            {"identifier": a, "distribution": "60%"},
            {"identifier": b, "distribution": "60%"},
        ],
    )
    assert over.status_code == 400 and over.json()["errors"]
    fixed_over = await post(
        client,
        amount=100,
        reference="split-fixed",
        source="@World",
        destinations=[
            {"identifier": a, "distribution": "101"},
            {"identifier": b, "distribution": "left"},
        ],
    )
    assert fixed_over.status_code == 400
    assert [(await shown(client, x))["balance"] for x in (a, b, c)] == [1000, 2000, 7000]


# ---- Blnk check 12: refunds -------------------------------------------------------------------


async def test_check_12_a_refund_swaps_the_parties_and_restores_the_balances(
    client: Client,
) -> None:
    wallets = await ledger(client)
    alice, shop = await balance(client, wallets), await balance(client, wallets)
    await fund(client, alice, 100, "deposit")
    bought = await post(client, amount=42, reference="shoes", source=alice, destination=shop)
    purchase_id = bought.json()["transaction_id"]
    refund = await client.post(f"/refund-transaction/{purchase_id}", json={"skip_queue": True})
    assert refund.status_code == 201, refund.text
    body = refund.json()
    assert body["status"] == "APPLIED" and body["parent_transaction"] == purchase_id
    assert (body["source"], body["destination"]) == (shop, alice)
    assert body["reference"] == f"{purchase_id}_refund"
    assert (await shown(client, alice))["balance"] == 10000
    assert (await shown(client, shop))["balance"] == 0
    twice = await client.post(f"/refund-transaction/{purchase_id}")
    assert twice.status_code == 409 and "has already been refunded" in twice.json()["error"]
    unknown = await client.post("/refund-transaction/txn_unknown")
    assert unknown.status_code == 404 and code(unknown) == "TXN_NOT_FOUND"
    assert "no transaction to refund" in unknown.json()["error"]
    assert (await shown(client, alice))["balance"] == 10000


# ---- Blnk check 13: bulk --------------------------------------------------------------------


async def test_check_13_a_bulk_of_two_payments(client: Client) -> None:
    wallets = await ledger(client)
    alice, bob = await balance(client, wallets), await balance(client, wallets)
    items = [
        {
            "amount": 10,
            "precision": 100,
            "currency": "USD",
            "reference": "bulk-a",
            "description": "a",
            "source": "@World",
            "destination": alice,
            "allow_overdraft": True,
        },
        {
            "amount": 20,
            "precision": 100,
            "currency": "USD",
            "reference": "bulk-b",
            "description": "b",
            "source": "@World",
            "destination": bob,
            "allow_overdraft": True,
        },
    ]
    done = await client.post("/transactions/bulk", json={"skip_queue": True, "transactions": items})
    assert done.status_code == 201, done.text
    assert done.json()["status"] == "applied" and done.json()["transaction_count"] == 2
    batch_id = done.json()["batch_id"]
    assert batch_id.startswith("bulk_")
    rows = [(await by_reference(client, ref)).json() for ref in ("bulk-a", "bulk-b")]
    assert [row["parent_transaction"] for row in rows] == [batch_id, batch_id]
    assert [row["meta_data"]["sequence"] for row in rows] == [1, 2]
    empty = await client.post("/transactions/bulk", json={"transactions": []})
    assert empty.status_code == 400 and code(empty) == "TXN_BULK_EMPTY"


async def test_check_13_an_atomic_bulk_with_a_failing_item_applies_nothing(
    client: Client,
) -> None:
    wallets = await ledger(client)
    alice, bob = await balance(client, wallets), await balance(client, wallets)
    items = [
        {
            "amount": 10,
            "precision": 100,
            "currency": "USD",
            "reference": "atomic-a",
            "source": "@World",
            "destination": alice,
            "allow_overdraft": True,
        },
        {
            "amount": 20,
            "precision": 100,
            "currency": "USD",
            "reference": "atomic-b",
            "source": bob,
            "destination": alice,
        },
    ]
    failed = await client.post("/transactions/bulk", json={"atomic": True, "transactions": items})
    assert failed.status_code == 400 and code(failed) == "TXN_INSUFFICIENT_FUNDS"
    assert "insufficient funds" in failed.json()["error"]
    assert failed.json()["error_detail"]["details"]["batch_id"].startswith("bulk_")
    # Tally: one database transaction, so there is nothing to refund afterwards.
    assert (await by_reference(client, "atomic-a")).status_code == 404
    assert (await by_reference(client, "atomic-b")).status_code == 404
    assert (await shown(client, alice))["balance"] == 0


# ---- Blnk check 15: history and metadata ------------------------------------------------------


async def test_check_15a_a_balance_as_it_stood_yesterday(client: Client) -> None:
    alice = await balance(client, await ledger(client))
    yesterday = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    backdated = await post(
        client,
        amount=25,
        reference="backdated",
        source="@World",
        destination=alice,
        allow_overdraft=True,
        effective_date=yesterday.isoformat().replace("+00:00", "Z"),
    )
    assert backdated.status_code == 201, backdated.text
    after = (yesterday + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    before = (yesterday - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    then = await client.get(f"/balances/{alice}/at", params={"timestamp": after})
    assert then.status_code == 200 and then.json()["balance"]["balance"] == 2500
    earlier = await client.get(f"/balances/{alice}/at", params={"timestamp": before})
    assert earlier.status_code == 200 and earlier.json()["balance"]["balance"] == 0


async def test_check_15b_metadata_is_merged_and_nothing_else_changes(client: Client) -> None:
    alice = await balance(client, await ledger(client))
    funded = await fund(client, alice, 5, "meta")
    txn_id = funded["transaction_id"]
    merged = await client.post(f"/{txn_id}/metadata", json={"meta_data": {"k": "v"}})
    assert merged.status_code == 200 and merged.json()["meta_data"]["k"] == "v"
    tampered = await client.post(
        f"/{txn_id}/metadata", json={"meta_data": {"x": 1}, "precise_amount": 1}
    )
    assert tampered.status_code == 200
    row = (await client.get(f"/transactions/{txn_id}")).json()
    assert row["meta_data"]["k"] == "v" and row["meta_data"]["x"] == 1
    assert row["precise_amount"] == 500


# ---- Tally's improvements ---------------------------------------------------------------------


async def test_a_refund_cannot_be_refunded(client: Client) -> None:
    wallets = await ledger(client)
    alice, shop = await balance(client, wallets), await balance(client, wallets)
    await fund(client, alice, 100, "deposit")
    bought = await post(client, amount=42, reference="shoes", source=alice, destination=shop)
    refund = await client.post(f"/refund-transaction/{bought.json()['transaction_id']}")
    again = await client.post(f"/refund-transaction/{refund.json()['transaction_id']}")
    assert again.status_code == 400 and code(again) == "TXN_NOT_REFUNDABLE"
    assert (await shown(client, alice))["balance"] == 10000
    assert (await shown(client, shop))["balance"] == 0


async def test_a_refund_needs_the_merchants_funds_unless_overdraft_is_allowed(
    client: Client,
) -> None:
    wallets = await ledger(client)
    alice, shop, supplier = [await balance(client, wallets) for _ in range(3)]
    await fund(client, alice, 100, "deposit")
    bought = await post(client, amount=42, reference="shoes", source=alice, destination=shop)
    await post(client, amount=42, reference="restock", source=shop, destination=supplier)
    purchase_id = bought.json()["transaction_id"]
    refused = await client.post(f"/refund-transaction/{purchase_id}")
    assert refused.status_code == 400 and code(refused) == "TXN_INSUFFICIENT_FUNDS"
    allowed = await client.post(
        f"/refund-transaction/{purchase_id}", json={"allow_overdraft": True}
    )
    assert allowed.status_code == 201
    assert (await shown(client, shop))["balance"] == -4200


async def test_a_dollar_payment_into_a_euro_balance_is_refused(client: Client) -> None:
    wallets = await ledger(client)
    euros = await balance(client, wallets, "EUR")
    refused = await post(
        client, amount=10, reference="fx", source="@World", destination=euros, allow_overdraft=True
    )
    assert refused.status_code == 400 and code(refused) == "TXN_CURRENCY_MISMATCH"
    assert "holds EUR, the transaction is in USD" in refused.json()["error"]
    assert (await shown(client, euros))["balance"] == 0


async def test_ten_dollars_split_three_ways_leaves_no_cent_behind(client: Client) -> None:
    wallets = await ledger(client)
    a, b, c = [await balance(client, wallets) for _ in range(3)]
    split = await post(
        client,
        amount=10,
        reference="thirds",
        source="@World",
        allow_overdraft=True,
        destinations=[
            {"identifier": a, "distribution": "33.33%"},
            {"identifier": b, "distribution": "33.33%"},
            {"identifier": c, "distribution": "left"},
        ],
    )
    assert split.status_code == 201, split.text
    assert [(await shown(client, x))["balance"] for x in (a, b, c)] == [333, 333, 334]
    odd = await post(
        client,
        amount=1.01,
        reference="halves",
        source="@World",
        allow_overdraft=True,
        destinations=[
            {"identifier": a, "distribution": "50%"},
            {"identifier": b, "distribution": "50%"},
        ],
    )
    assert odd.status_code == 201, odd.text
    assert [(await shown(client, x))["balance"] for x in (a, b)] == [333 + 51, 333 + 50]
    assert (await world(client))["balance"] == -(1000 + 101)


async def test_world_cannot_pay_itself_by_its_balance_id(client: Client) -> None:
    alice = await balance(client, await ledger(client))
    await fund(client, alice, 1, "open-world")
    world_id = (await world(client))["balance_id"]
    refused = await post(client, amount=1, reference="loop", source="@World", destination=world_id)
    assert refused.status_code == 400
    assert "source and destination cannot be the same balance" in refused.json()["error"]
