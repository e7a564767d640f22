"""The outbox over HTTP and the webhook endpoint API, on both stores."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from tally.api.app import create_app
from tally.services import Services
from tally.settings import Settings


async def _fund(client: Any, reference: str, amount: int = 1000) -> dict[str, Any]:
    ledger = (await client.post("/ledgers", json={"name": "Points"})).json()
    balance = (
        await client.post("/balances", json={"ledger_id": ledger["ledger_id"], "currency": "PTS"})
    ).json()
    response = await client.post(
        "/transactions",
        json={
            "precise_amount": amount,
            "currency": "PTS",
            "reference": reference,
            "source": "@World",
            "destination": balance["balance_id"],
        },
    )
    assert response.status_code == 201, response.text
    return {"ledger": ledger, "balance": balance, "transaction": response.json()}


async def test_every_ledger_change_has_its_event(client: Any) -> None:
    made = await _fund(client, "ev-1")
    page = (await client.get("/events", params={"limit": 100})).json()
    types = [event["type"] for event in page["data"]]
    assert types.count("ledger.created") == 1
    assert types.count("balance.created") == 2  # the balance and @World
    assert types.count("transaction.applied") == 1
    applied = next(e for e in page["data"] if e["type"] == "transaction.applied")
    assert applied["id"].startswith("evt_")
    assert applied["data"]["transaction_id"] == made["transaction"]["transaction_id"]
    assert applied["data"]["precise_amount"] == 1000
    assert set(applied) == {"id", "type", "created_at", "data"}
    one = await client.get(f"/events/{applied['id']}")
    assert one.status_code == 200 and one.json() == applied


async def test_events_filter_by_type_prefix_and_time_and_page_by_cursor(client: Any) -> None:
    for n in range(3):
        await _fund(client, f"ev-page-{n}")
    only = (await client.get("/events", params={"type": "transaction.applied"})).json()
    assert [e["type"] for e in only["data"]] == ["transaction.applied"] * 3
    prefix = (await client.get("/events", params={"type": "ledger.*,transaction.applied"})).json()
    assert {e["type"] for e in prefix["data"]} == {"ledger.created", "transaction.applied"}
    first = (await client.get("/events", params={"limit": 2})).json()
    assert first["has_more"] is True and len(first["data"]) == 2
    second = await client.get("/events", params={"limit": 2, "cursor": first["next_cursor"]})
    ids = {e["id"] for e in first["data"]} | {e["id"] for e in second.json()["data"]}
    assert len(ids) == 4
    newest = first["data"][0]["created_at"]
    later = (await client.get("/events", params={"created[gt]": newest})).json()
    assert later["data"] == []
    upto = (await client.get("/events", params={"created[lte]": newest, "limit": 100})).json()
    assert len(upto["data"]) == 3 + 3 + 1 + 3  # ledgers, balances, @World, transactions


async def test_event_errors_are_clear(client: Any) -> None:
    missing = await client.get("/events/evt_nope")
    assert missing.status_code == 404
    assert missing.json()["error_detail"]["code"] == "EVT_NOT_FOUND"
    bad_time = await client.get("/events", params={"created[gte]": "yesterday"})
    assert bad_time.status_code == 400 and "RFC 3339" in bad_time.json()["error"]
    bad_cursor = await client.get("/events", params={"cursor": "xyz"})
    assert bad_cursor.status_code == 400
    bad_type = await client.get("/events", params={"type": "Not A Type"})
    assert bad_type.status_code == 400


async def test_endpoint_lifecycle_shows_the_secret_only_once(client: Any) -> None:
    created = await client.post(
        "/webhooks/endpoints",
        json={
            "url": "https://hooks.example.com/tally",
            "event_types": ["transaction.*"],
            "description": "accounting",
        },
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert endpoint["endpoint_id"].startswith("we_")
    assert endpoint["secret"].startswith("whsec_")
    assert endpoint["status"] == "enabled" and endpoint["event_types"] == ["transaction.*"]
    path = f"/webhooks/endpoints/{endpoint['endpoint_id']}"
    shown = (await client.get(path)).json()
    assert "secret" not in shown and shown["description"] == "accounting"
    listed = (await client.get("/webhooks/endpoints")).json()
    assert [e["endpoint_id"] for e in listed] == [endpoint["endpoint_id"]]
    updated = (await client.put(path, json={"event_types": ["*"], "description": "all"})).json()
    assert updated["event_types"] == ["*"] and updated["url"] == "https://hooks.example.com/tally"
    disabled = (await client.post(f"{path}/disable", json={"reason": "maintenance"})).json()
    assert disabled["status"] == "disabled" and disabled["disabled_reason"] == "maintenance"
    enabled = (await client.post(f"{path}/enable")).json()
    assert enabled["status"] == "enabled" and enabled["disabled_reason"] is None
    rotated = await client.post(f"{path}/rotate-secret", json={"grace_period_seconds": 60})
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != endpoint["secret"]
    assert rotated.json()["previous_secret_expires_at"] is not None
    assert (await client.delete(path)).status_code == 200
    gone = await client.get(path)
    assert gone.status_code == 404
    assert gone.json()["error_detail"]["code"] == "WEBHOOK_ENDPOINT_NOT_FOUND"
    assert (await client.get("/webhooks/endpoints")).json() == []


async def test_endpoint_urls_must_be_https_except_loopback_in_development(client: Any) -> None:
    plain = await client.post("/webhooks/endpoints", json={"url": "http://hooks.example.com/x"})
    assert plain.status_code == 400
    assert plain.json()["error_detail"]["code"] == "WEBHOOK_URL_INVALID"
    assert "https" in plain.json()["error"]
    private = await client.post("/webhooks/endpoints", json={"url": "https://10.0.0.8/hook"})
    assert private.status_code == 400
    local = await client.post("/webhooks/endpoints", json={"url": "http://127.0.0.1:9999/h"})
    assert local.status_code == 201, local.text
    blank = await client.post("/webhooks/endpoints", json={"url": ""})
    assert blank.status_code == 400
    no_types = await client.post(
        "/webhooks/endpoints", json={"url": "https://hooks.example.com/x", "event_types": []}
    )
    assert no_types.status_code == 400
    assert no_types.json()["error_detail"]["code"] == "WEBHOOK_EVENT_TYPES_INVALID"


async def test_production_refuses_loopback_endpoints(store_url: str) -> None:
    settings = Settings(
        database_url=store_url,
        auto_migrate=False,
        run_workers=False,
        environment="production",
        master_key="k",
    )
    app = create_app(Services.build(settings))
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:5001") as client:
        response = await client.post(
            "/webhooks/endpoints", json={"url": "http://localhost:1/h"}, headers={"X-Blnk-Key": "k"}
        )
    assert response.status_code == 400
    assert "local development" in response.json()["error"]


async def test_recover_needs_a_time_and_an_enabled_endpoint(client: Any) -> None:
    endpoint = (
        await client.post("/webhooks/endpoints", json={"url": "https://hooks.example.com/x"})
    ).json()
    path = f"/webhooks/endpoints/{endpoint['endpoint_id']}"
    assert (await client.post(f"{path}/recover")).status_code == 400
    await client.post(f"{path}/disable")
    refused = await client.post(f"{path}/recover", params={"since": "2020-01-01T00:00:00Z"})
    assert refused.status_code == 409
    assert refused.json()["error_detail"]["code"] == "WEBHOOK_ENDPOINT_DISABLED"


async def test_transaction_event_is_the_rows_view_with_the_metadata_of_its_moment(
    client: Any,
) -> None:
    """Transaction events store only their metadata and are rendered from the row when read."""
    made = await _fund(client, "ev-lazy")
    txn = made["transaction"]
    tid = txn["transaction_id"]
    as_read = (await client.get(f"/transactions/{tid}")).json()
    changed = await client.post(f"/{tid}/metadata", json={"meta_data": {"note": "later"}})
    assert changed.status_code == 200, changed.text
    page = (await client.get("/events", params={"type": "transaction.applied"})).json()
    (event,) = page["data"]
    assert event["data"] == as_read  # every field, metadata as it was when the event happened
    assert event["data"]["meta_data"] == {}
    now = (await client.get(f"/transactions/{tid}")).json()
    assert now["meta_data"] == {"note": "later"}
    assert {k: v for k, v in now.items() if k != "meta_data"} == {
        k: v for k, v in event["data"].items() if k != "meta_data"
    }
