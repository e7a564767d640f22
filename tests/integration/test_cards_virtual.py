"""Virtual cards over HTTP on both stores: seed 001's flow and every decline reason."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import sqlalchemy as sa

from tally.settings import Settings
from tally.store.database import Database

KEY = base64.b64encode(bytes(range(32))).decode()
FP_KEY = base64.b64encode(bytes(range(32, 64))).decode()
PAN = "4111111111111111"


@pytest.fixture
def app_settings(store_url: str) -> Settings:
    return Settings(
        database_url=store_url,
        auto_migrate=False,
        run_workers=False,
        card_encryption_key=KEY,
        card_fingerprint_key=FP_KEY,
    )


async def identity(client: Any) -> str:
    found = await client.post("/identities", json={"first_name": "Jerry", "last_name": "Doe"})
    assert found.status_code == 201, found.text
    return str(found.json()["identity_id"])


async def new_card(client: Any, **extra: Any) -> dict[str, Any]:
    body = {"holder": await identity(client), "currency": "USD", **extra}
    made = await client.post("/virtual-cards", json=body)
    assert made.status_code == 201, made.text
    return dict(made.json())


async def fund(client: Any, balance_id: str, amount: int, ref: str = "fund-1") -> None:
    funded = await client.post(
        "/transactions",
        json={
            "precise_amount": amount,
            "precision": 100,
            "currency": "USD",
            "reference": ref,
            "source": "@World",
            "destination": balance_id,
            "description": "top up",
        },
    )
    assert funded.status_code == 201, funded.text


async def authorize(client: Any, card_id: str, amount: int, **extra: Any) -> dict[str, Any]:
    body = {
        "amount": amount,
        "currency": "USD",
        "merchant_id": "58725",
        "merchant_name": "BP",
        "merchant_category": "5541",
        **extra,
    }
    made = await client.post(f"/virtual-cards/{card_id}/authorizations", json=body)
    assert made.status_code == 201, made.text
    return dict(made.json())


async def event_types(store_url: str) -> list[str]:
    db = Database(store_url)
    async with db.read() as conn:
        rows = await conn.execute(sa.text("SELECT type FROM events ORDER BY id"))
        found = [row.type for row in rows]
    await db.dispose()
    return found


async def test_seed_001_create_authorize_approve(client: Any, store_url: str) -> None:
    card = await new_card(
        client, details={"number": PAN, "cvv": "123", "exp_month": 12, "exp_year": 2031}
    )
    assert card["state"] == "ACTIVE"
    assert card["details"]["number"].endswith("1111") and PAN not in str(card)
    assert "cvv" not in card["details"]
    balance = (await client.get(f"/balances/{card['balance_id']}")).json()
    assert balance["meta_data"]["card_state"] == "ACTIVE"
    assert balance["meta_data"]["card_id"] == card["card_id"]
    await fund(client, card["balance_id"], 10_000)

    auth = await authorize(client, card["card_id"], 4_200)
    assert auth["status"] == "PENDING" and auth["approved"] is True
    shown = (await client.get(f"/virtual-cards/{card['card_id']}")).json()
    assert shown["balance"] == {"balance": 10_000, "held": 4_200, "available": 5_800}
    hold = (await client.get(f"/transactions/{auth['hold_transaction_id']}")).json()
    assert hold["status"] == "INFLIGHT" and hold["precise_amount"] == 4_200

    captured = await client.post(
        f"/virtual-cards/{card['card_id']}/authorizations/{auth['auth_id']}/capture"
    )
    assert captured.status_code == 200, captured.text
    assert captured.json()["status"] == "CAPTURED" and captured.json()["captured_amount"] == 4_200
    shown = (await client.get(f"/virtual-cards/{card['card_id']}")).json()
    assert shown["balance"] == {"balance": 5_800, "held": 0, "available": 5_800}
    network = (await client.get("/balances/indicator/@CardNetwork/currency/USD")).json()
    assert network["balance"] == 4_200

    types = await event_types(store_url)
    for wanted in ("card.created", "card.authorization.approved", "card.authorization.captured"):
        assert wanted in types


async def test_partial_capture_releases_the_rest(client: Any) -> None:
    card = await new_card(client)
    await fund(client, card["balance_id"], 10_000)
    auth = await authorize(client, card["card_id"], 5_000)
    done = (
        await client.post(
            f"/virtual-cards/{card['card_id']}/authorizations/{auth['auth_id']}/capture",
            json={"amount": 3_000},
        )
    ).json()
    assert done["captured_amount"] == 3_000 and done["released_amount"] == 2_000
    shown = (await client.get(f"/virtual-cards/{card['card_id']}")).json()
    assert shown["balance"] == {"balance": 7_000, "held": 0, "available": 7_000}
    again = await client.post(
        f"/virtual-cards/{card['card_id']}/authorizations/{auth['auth_id']}/capture"
    )
    assert again.status_code == 409
    assert again.json()["error_detail"]["code"] == "AUTH_NOT_PENDING"


async def test_capture_more_than_authorized_is_refused(client: Any) -> None:
    card = await new_card(client)
    await fund(client, card["balance_id"], 10_000)
    auth = await authorize(client, card["card_id"], 1_000)
    over = await client.post(
        f"/virtual-cards/{card['card_id']}/authorizations/{auth['auth_id']}/capture",
        json={"amount": 1_001},
    )
    assert over.status_code == 400
    assert over.json()["error_detail"]["code"] == "AUTH_CAPTURE_EXCEEDS_AMOUNT"
    shown = (await client.get(f"/virtual-cards/{card['card_id']}")).json()
    assert shown["balance"]["held"] == 1_000


async def test_reverse_releases_the_hold(client: Any, store_url: str) -> None:
    card = await new_card(client)
    await fund(client, card["balance_id"], 10_000)
    auth = await authorize(client, card["card_id"], 2_500)
    done = await client.post(
        f"/virtual-cards/{card['card_id']}/authorizations/{auth['auth_id']}/reverse"
    )
    assert done.status_code == 200 and done.json()["status"] == "REVERSED"
    shown = (await client.get(f"/virtual-cards/{card['card_id']}")).json()
    assert shown["balance"] == {"balance": 10_000, "held": 0, "available": 10_000}
    assert "card.authorization.reversed" in await event_types(store_url)


async def test_declines_name_their_reason(client: Any, store_url: str) -> None:
    card = await new_card(
        client, limits={"per_authorization": 5_000, "per_day": 8_000}, merchant_lock=["58725", 1234]
    )
    await fund(client, card["balance_id"], 100_000)
    cid = card["card_id"]
    assert (await authorize(client, cid, 5_001))["decline_reason"] == "limit_exceeded"
    assert (await authorize(client, cid, 100, merchant_id="999"))["decline_reason"] == (
        "merchant_not_allowed"
    )
    assert (await authorize(client, cid, 100, merchant_id=1234))["status"] == "PENDING"
    assert (await authorize(client, cid, 100, currency="eur"))["decline_reason"] == (
        "currency_mismatch"
    )
    assert (await authorize(client, cid, 5_000))["status"] == "PENDING"
    day = await authorize(client, cid, 3_000)
    assert day["decline_reason"] == "limit_exceeded" and "per-day" in day["decline_message"]
    assert (await authorize(client, cid, 2_900))["status"] == "PENDING"

    poor = await new_card(client)
    await fund(client, poor["balance_id"], 1_000, ref="fund-poor")
    declined = await authorize(client, poor["card_id"], 1_001)
    assert declined["decline_reason"] == "insufficient_funds"
    assert declined["hold_transaction_id"] is None
    shown = (await client.get(f"/virtual-cards/{poor['card_id']}")).json()
    assert shown["balance"]["held"] == 0
    assert "card.authorization.declined" in await event_types(store_url)


async def test_blocked_and_closed_cards_decline(client: Any, store_url: str) -> None:
    card = await new_card(client)
    await fund(client, card["balance_id"], 10_000)
    cid = card["card_id"]
    pending = await authorize(client, cid, 1_000)
    blocked = await client.post(f"/virtual-cards/{cid}/block")
    assert blocked.status_code == 200 and blocked.json()["state"] == "BLOCKED"
    meta = (await client.get(f"/balances/{card['balance_id']}")).json()["meta_data"]
    assert meta["card_state"] == "BLOCKED"
    assert (await authorize(client, cid, 100))["decline_reason"] == "card_blocked"
    # an authorization approved before the block can still be captured
    captured = await client.post(
        f"/virtual-cards/{cid}/authorizations/{pending['auth_id']}/capture"
    )
    assert captured.status_code == 200
    assert (await client.post(f"/virtual-cards/{cid}/unblock")).json()["state"] == "ACTIVE"
    assert (await authorize(client, cid, 100))["status"] == "PENDING"
    assert (await client.post(f"/virtual-cards/{cid}/close")).json()["state"] == "CLOSED"
    assert (await authorize(client, cid, 100))["decline_reason"] == "card_closed"
    reopen = await client.post(f"/virtual-cards/{cid}/unblock")
    assert reopen.status_code == 409
    assert reopen.json()["error_detail"]["code"] == "VCARD_INVALID_STATE"
    assert (await event_types(store_url)).count("card.state_changed") == 3
    listed = (await client.get(f"/virtual-cards/{cid}/authorizations?status=declined")).json()
    assert [a["decline_reason"] for a in listed] == ["card_closed", "card_blocked"]


@pytest.mark.parametrize(
    "body, code",
    [
        ({"currency": "USD"}, "CARD_VALIDATION_ERROR"),
        ({"holder": "idt_missing", "currency": "USD"}, "GEN_BAD_REQUEST"),
        ({"holder": "bob", "currency": "USD"}, "CARD_VALIDATION_ERROR"),
        ({"currency": "U S D"}, "CARD_VALIDATION_ERROR"),
        ({"currency": "USD", "limits": {"per_day": -1}}, "CARD_VALIDATION_ERROR"),
        ({"currency": "USD", "limits": {"per_week": 1}}, "CARD_VALIDATION_ERROR"),
        ({"currency": "USD", "merchant_lock": []}, "CARD_VALIDATION_ERROR"),
        (
            {
                "currency": "USD",
                "details": {"number": "4111111111111112", "exp_month": 1, "exp_year": 2031},
            },
            "CARD_INVALID_NUMBER",
        ),
        (
            {"currency": "USD", "details": {"number": PAN, "exp_month": 1, "exp_year": 2020}},
            "CARD_EXPIRED",
        ),
        (
            {
                "currency": "USD",
                "details": {"number": PAN, "exp_month": 1, "exp_year": 2031, "cvv": "12"},
            },
            "CARD_VALIDATION_ERROR",
        ),
    ],
)
async def test_bad_card_requests_change_nothing(
    client: Any, store_url: str, body: dict[str, Any], code: str
) -> None:
    if "holder" not in body and body != {"currency": "USD"}:
        body = {**body, "holder": await identity(client)}
    refused = await client.post("/virtual-cards", json=body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error_detail"]["code"] == code
    assert PAN not in refused.text
    assert (await client.get("/virtual-cards")).json() == []
    assert "card.created" not in await event_types(store_url)


async def test_bad_authorizations_are_refused(client: Any) -> None:
    card = await new_card(client)
    cid = card["card_id"]
    for body in (
        {"amount": 10.5, "currency": "USD", "merchant_id": "1"},
        {"amount": 0, "currency": "USD", "merchant_id": "1"},
        {"amount": 100, "currency": "USD"},
    ):
        refused = await client.post(f"/virtual-cards/{cid}/authorizations", json=body)
        assert refused.status_code == 400, refused.text
    missing = await client.post(
        "/virtual-cards/vcard_nope/authorizations",
        json={"amount": 1, "currency": "USD", "merchant_id": "1"},
    )
    assert missing.status_code == 404
    assert missing.json()["error_detail"]["code"] == "VCARD_NOT_FOUND"
    malformed = await client.post(f"/virtual-cards/{cid}/authorizations", content=b"{nope")
    assert malformed.status_code == 400
    assert (await client.get(f"/virtual-cards/{cid}/authorizations")).json() == []
