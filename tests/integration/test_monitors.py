"""Balance monitors on both stores: Blnk's routes and shapes, edge-triggered ``balance.monitor``."""

from __future__ import annotations

from typing import Any


async def wallet(client: Any) -> str:
    ledger = (await client.post("/ledgers", json={"name": "Wallets"})).json()
    made = await client.post(
        "/balances", json={"ledger_id": ledger["ledger_id"], "currency": "USD"}
    )
    return str(made.json()["balance_id"])


async def move(client: Any, source: str, destination: str, cents: int, reference: str) -> None:
    response = await client.post(
        "/transactions",
        json={
            "amount": cents / 100,
            "precision": 100,
            "currency": "USD",
            "reference": reference,
            "source": source,
            "destination": destination,
            "allow_overdraft": True,
        },
    )
    assert response.status_code == 201, response.text


async def fired(client: Any) -> list[dict[str, Any]]:
    page = await client.get("/events", params={"type": "balance.monitor", "limit": 100})
    return list(reversed(page.json()["data"]))


async def test_monitor_routes_follow_blnk(client: Any) -> None:
    balance_id = await wallet(client)
    created = await client.post(
        "/balance-monitors",
        json={
            "balance_id": balance_id,
            "description": "big spender",
            "condition": {"field": "balance", "operator": ">", "value": 1000, "precision": 100},
            "call_back_url": "https://example.com/cb",
        },
    )
    assert created.status_code == 201, created.text
    monitor = created.json()
    assert monitor["monitor_id"].startswith("mon_")
    assert monitor["condition"] == {
        "field": "balance",
        "operator": ">",
        "value": 1000,
        "precision": 100,
        "precise_value": 100000,
    }
    path = f"/balance-monitors/{monitor['monitor_id']}"
    assert (await client.get(path)).json() == monitor
    assert [m["monitor_id"] for m in (await client.get("/balance-monitors")).json()] == [
        monitor["monitor_id"]
    ]
    by_balance = (await client.get(f"/balance-monitors/balances/{balance_id}")).json()
    assert [m["monitor_id"] for m in by_balance] == [monitor["monitor_id"]]
    updated = await client.put(
        path,
        json={
            "balance_id": balance_id,
            "description": "bigger",
            "condition": {
                "field": "credit_balance",
                "operator": ">=",
                "value": 20.5,
                "precision": 100,
            },
        },
    )
    assert updated.json() == {"message": "BalanceMonitor updated successfully"}
    after = (await client.get(path)).json()
    assert after["description"] == "bigger"
    assert after["condition"]["precise_value"] == 2050  # recomputed, unlike Blnk
    assert (await client.delete(path)).json() == {"message": "BalanceMonitor deleted successfully"}
    missing = await client.get(path)
    assert missing.status_code == 404
    assert missing.json()["error_detail"]["code"] == "BAL_MONITOR_NOT_FOUND"


async def test_bad_monitors_are_refused_clearly(client: Any) -> None:
    balance_id = await wallet(client)
    cases = [
        ({"field": "nope", "operator": ">", "value": 1}, "condition.field"),
        ({"field": "balance", "operator": "~", "value": 1}, "condition.operator"),
        ({"field": "balance", "operator": ">"}, "condition.value"),
        ({"field": "balance", "operator": ">", "value": 1.005, "precision": 100}, "not exact"),
    ]
    for condition, words in cases:
        response = await client.post(
            "/balance-monitors", json={"balance_id": balance_id, "condition": condition}
        )
        assert response.status_code == 400, condition
        assert words in response.json()["error"]
    unknown = await client.post(
        "/balance-monitors",
        json={
            "balance_id": "bln_missing",
            "condition": {"field": "balance", "operator": ">", "value": 1},
        },
    )
    assert unknown.status_code == 400 and "bln_missing" in unknown.json()["error"]


async def test_a_monitor_fires_once_each_time_its_condition_becomes_true(client: Any) -> None:
    alice = await wallet(client)
    await client.post(
        "/balance-monitors",
        json={
            "balance_id": alice,
            "condition": {"field": "balance", "operator": ">", "value": 10, "precision": 100},
        },
    )
    await move(client, "@World", alice, 500, "m-1")  # 5.00: false
    assert await fired(client) == []
    await move(client, "@World", alice, 600, "m-2")  # 11.00: becomes true
    await move(client, "@World", alice, 100, "m-3")  # 12.00: still true, no second event
    events = await fired(client)
    assert len(events) == 1
    assert events[0]["data"]["snapshot"]["balance"] == 1100
    assert events[0]["data"]["balance_id"] == alice
    await move(client, alice, "@World", 900, "m-4")  # 3.00: false again
    await move(client, "@World", alice, 800, "m-5")  # 11.00: true again
    events = await fired(client)
    assert len(events) == 2 and events[1]["data"]["snapshot"]["balance"] == 1100


async def test_equality_and_negative_thresholds_fire(client: Any) -> None:
    alice = await wallet(client)
    await client.post(
        "/balance-monitors",
        json={
            "balance_id": alice,
            "condition": {"field": "balance", "operator": "==", "value": 7, "precision": 100},
        },
    )
    await client.post(
        "/balance-monitors",
        json={"balance_id": alice, "condition": {"field": "balance", "operator": "<", "value": 0}},
    )
    await move(client, "@World", alice, 700, "eq-1")
    await move(client, alice, "@World", 800, "eq-2")
    events = await fired(client)
    operators = [e["data"]["condition"]["operator"] for e in events]
    assert operators == ["==", "<"]


async def test_a_monitor_already_true_fires_when_created(client: Any) -> None:
    alice = await wallet(client)
    await move(client, "@World", alice, 5000, "pre-1")
    created = (
        await client.post(
            "/balance-monitors",
            json={
                "balance_id": alice,
                "condition": {"field": "available_balance", "operator": ">=", "value": 50},
            },
        )
    ).json()
    events = await fired(client)
    assert [e["data"]["monitor_id"] for e in events] == [created["monitor_id"]]
    await move(client, "@World", alice, 100, "pre-2")
    assert len(await fired(client)) == 1


async def test_inflight_fields_are_watched(client: Any) -> None:
    alice, shop = await wallet(client), await wallet(client)
    await move(client, "@World", alice, 10000, "if-0")
    await client.post(
        "/balance-monitors",
        json={
            "balance_id": alice,
            "condition": {"field": "inflight_debit_balance", "operator": ">", "value": 0},
        },
    )
    hold = await client.post(
        "/transactions",
        json={
            "precise_amount": 300,
            "currency": "USD",
            "reference": "if-1",
            "source": alice,
            "destination": shop,
            "inflight": True,
        },
    )
    assert hold.status_code == 201
    events = await fired(client)
    assert len(events) == 1
    assert events[0]["data"]["snapshot"]["inflight_debit_balance"] == 300
