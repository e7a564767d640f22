"""Card-linked offers over HTTP on both stores: seed 003's flow, matching, refunds, idempotency."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
import sqlalchemy as sa

from tally.settings import Settings
from tally.store.database import Database

FP_KEY = base64.b64encode(bytes(range(32, 64))).decode()
PAN = "4242424242424242"
OTHER_PAN = "5555555555554444"


@pytest.fixture
def app_settings(store_url: str) -> Settings:
    return Settings(
        database_url=store_url, auto_migrate=False, run_workers=False, card_fingerprint_key=FP_KEY
    )


async def post(client: Any, path: str, body: dict[str, Any], status: int = 201) -> Any:
    answer = await client.post(path, json=body)
    assert answer.status_code == status, answer.text
    return answer.json()


async def enrolled(client: Any, **offer: Any) -> dict[str, Any]:
    """An offer at BP (58725), a person, a card and the link: seed 003's four resources."""
    body = {
        "merchant_id": 58725,
        "name": "5% back at BP",
        "pos_text": "5% back with Tally",
        "currency": "EUR",
        "reward": {"type": "cashback", "percent": 5, "max_reward": 1000},
        **offer,
    }
    made = await post(client, "/offers", body)
    person = await post(client, "/persons", {"full_name": "Jane Doe", "email": "jane@example.com"})
    card = await post(
        client,
        "/cards",
        {"person_id": person["person_id"], "number": PAN, "exp_month": 12, "exp_year": 2030},
    )
    link = await post(client, f"/cards/{card['card_id']}/offers", {"offer_id": made["offer_id"]})
    return {"offer": made, "person": person, "card": card, "link": link}


async def feed(client: Any, status: int = 201, **body: Any) -> Any:
    return await post(client, "/card-transactions", body, status)


async def rows(store_url: str, sql: str) -> list[Any]:
    db = Database(store_url)
    async with db.read() as conn:
        found = list(await conn.execute(sa.text(sql)))
    await db.dispose()
    return found


async def test_seed_003_offer_person_card_link_clearing_reward(client: Any, store_url: str) -> None:
    e = await enrolled(client)
    assert e["card"]["last4"] == "4242" and e["card"]["first6"] == "424242"
    assert e["card"]["brand"] == "visa" and PAN not in str(e["card"])
    assert e["link"]["card_offer_id"].startswith("cof_")
    cleared = await feed(
        client,
        id="net-1",
        card_id=e["card"]["card_id"],
        merchant_id="58725",
        amount=4200,
        currency="EUR",
        type="clearing",
    )
    assert cleared["outcome"] == "rewarded" and cleared["offer_id"] == e["offer"]["offer_id"]
    assert cleared["redemption_id"].startswith("ofrd_")
    shown = (await client.get(f"/card-transactions/{cleared['card_transaction_id']}")).json()
    redemption = shown["redemption"]
    assert redemption["amount"] == 210 and redemption["status"] == "final"
    reward = (await client.get(f"/transactions/{redemption['transaction_id']}")).json()
    assert reward["precise_amount"] == 210 and reward["status"] == "APPLIED"
    person_balance = (await client.get(f"/balances/{reward['destination']}")).json()
    assert person_balance["balance"] == 210
    assert person_balance["meta_data"]["person_id"] == e["person"]["person_id"]
    funding = (await client.get("/balances/indicator/@OfferFunding/currency/EUR")).json()
    assert funding["balance"] == -210
    events = await rows(store_url, "SELECT type, payload FROM events WHERE type = 'offer.redeemed'")
    assert len(events) == 1
    payload = events[0].payload
    payload = payload if isinstance(payload, dict) else __import__("json").loads(payload)
    assert payload["amount"] == 210 and payload["card"]["last4"] == "4242"
    assert payload["merchant_id"] == "58725" and PAN not in str(payload)
    offer = (await client.get(f"/offers/{e['offer']['offer_id']}")).json()
    assert offer["redemption_count"] == 1


async def test_the_same_network_id_twice_has_one_effect(client: Any, store_url: str) -> None:
    e = await enrolled(client)
    body = {
        "id": "net-dup",
        "card_id": e["card"]["card_id"],
        "merchant_id": "58725",
        "amount": 2000,
        "currency": "EUR",
        "type": "clearing",
    }
    first = await feed(client, **body)
    again = await feed(client, status=200, **body)
    assert again == first
    concurrent = await asyncio.gather(
        *[client.post("/card-transactions", json={**body, "id": "net-par"}) for _ in range(5)]
    )
    assert sorted(r.status_code for r in concurrent) == [200, 200, 200, 200, 201]
    assert len({r.json()["card_transaction_id"] for r in concurrent}) == 1
    changed = await client.post("/card-transactions", json={**body, "amount": 2001})
    assert changed.status_code == 409
    assert changed.json()["error_detail"]["code"] == "CTX_NETWORK_ID_REUSED"
    assert len(await rows(store_url, "SELECT id FROM offer_redemptions")) == 2
    assert len(await rows(store_url, "SELECT id FROM events WHERE type='offer.redeemed'")) == 2


async def test_non_matches_are_explained(client: Any) -> None:
    e = await enrolled(client, min_spend=1000)
    cid = e["card"]["card_id"]
    other = await feed(
        client, id="n1", card_id=cid, merchant_id="1", amount=5000, currency="EUR", type="clearing"
    )
    assert other["outcome"] == "not_matched"
    assert other["explanation"]["reason"] == "no_offer_qualified"
    assert other["explanation"]["offers"][0]["reasons"] == ["merchant_mismatch"]
    small = await feed(
        client,
        id="n2",
        card_id=cid,
        merchant_id="58725",
        amount=999,
        currency="USD",
        type="clearing",
    )
    assert small["explanation"]["offers"][0]["reasons"] == [
        "currency_mismatch",
        "below_minimum_spend",
    ]
    unknown = await feed(
        client,
        id="n3",
        number=OTHER_PAN,
        merchant_id="58725",
        amount=5000,
        currency="EUR",
        type="clearing",
    )
    assert unknown["outcome"] == "card_not_enrolled" and unknown["card_id"] is None
    assert OTHER_PAN not in str(unknown)
    by_number = await feed(
        client,
        id="n4",
        number="4242 4242 4242 4242",
        merchant_id="58725",
        amount=5000,
        currency="EUR",
        type="clearing",
    )
    assert by_number["card_id"] == cid and by_number["outcome"] == "rewarded"
    auth = await feed(
        client, id="n5", card_id=cid, merchant_id="58725", amount=5000, currency="EUR", type="auth"
    )
    assert auth["outcome"] == "recorded" and auth["explanation"]["reason"] == "not_a_clearing"
    await client.delete(f"/cards/{cid}/offers/{e['link']['card_offer_id']}")
    unlinked = await feed(
        client,
        id="n6",
        card_id=cid,
        merchant_id="58725",
        amount=5000,
        currency="EUR",
        type="clearing",
    )
    assert unlinked["explanation"]["offers"][0]["reasons"] == ["link_inactive"]
    shown = (await client.get("/card-transactions/n6")).json()
    assert shown["explanation"]["offers"][0]["messages"] == [
        "the card is no longer linked to this offer"
    ]


async def test_refunds_take_back_rewards_in_proportion(client: Any, store_url: str) -> None:
    e = await enrolled(client, reward={"type": "cashback", "amount": 500})
    cid = e["card"]["card_id"]
    await feed(
        client,
        id="c1",
        card_id=cid,
        merchant_id="58725",
        amount=10_000,
        currency="EUR",
        type="clearing",
    )
    half = await feed(
        client,
        id="r1",
        card_id=cid,
        merchant_id="58725",
        amount=5_001,
        currency="EUR",
        type="refund",
        auth_id="c1",
    )
    assert half["outcome"] == "redemption_reversed"
    redemption = (await client.get("/card-transactions/c1")).json()["redemption"]
    assert redemption["reversed_amount"] == 250 and redemption["status"] == "partially_reversed"
    rest = await feed(
        client,
        id="r2",
        card_id=cid,
        merchant_id="58725",
        amount=4_999,
        currency="EUR",
        type="refund",
        auth_id="c1",
    )
    assert rest["outcome"] == "redemption_reversed"
    redemption = (await client.get("/card-transactions/c1")).json()["redemption"]
    assert redemption["reversed_amount"] == 500 and redemption["status"] == "reversed"
    reward = (await client.get(f"/transactions/{redemption['transaction_id']}")).json()
    balance = (await client.get(f"/balances/{reward['destination']}")).json()
    assert balance["balance"] == 0
    late = await feed(
        client,
        id="r3",
        card_id=cid,
        merchant_id="58725",
        amount=1,
        currency="EUR",
        type="refund",
        auth_id="c1",
    )
    assert late["explanation"]["reason"] == "nothing_to_reverse"
    events = await rows(store_url, "SELECT id FROM events WHERE type='offer.redemption.reversed'")
    assert len(events) == 2


async def test_limits_per_card_and_in_total(client: Any) -> None:
    e = await enrolled(
        client,
        max_per_card=1,
        max_total=2,
        reward={"type": "points", "amount": 100, "points_currency": "PTS"},
    )
    cid = e["card"]["card_id"]
    first = await feed(
        client,
        id="l1",
        card_id=cid,
        merchant_id="58725",
        amount=100,
        currency="EUR",
        type="clearing",
    )
    assert first["outcome"] == "rewarded"
    second = await feed(
        client,
        id="l2",
        card_id=cid,
        merchant_id="58725",
        amount=100,
        currency="EUR",
        type="clearing",
    )
    assert second["explanation"]["offers"][0]["reasons"] == ["card_limit_reached"]
    bob = await post(client, "/persons", {"full_name": "Bob", "email": "bob@example.com"})
    card = await post(
        client, "/cards", {"person_id": bob["person_id"], "number": OTHER_PAN, "expiry": "01/35"}
    )
    await post(client, f"/cards/{card['card_id']}/offers", {"offer_id": e["offer"]["offer_id"]})
    third = await feed(
        client,
        id="l3",
        card_id=card["card_id"],
        merchant_id="58725",
        amount=100,
        currency="EUR",
        type="clearing",
    )
    assert third["outcome"] == "rewarded"
    points = (await client.get("/card-transactions/l3")).json()["redemption"]
    assert points["reward_type"] == "points" and points["currency"] == "PTS"
    carol = await post(client, "/persons", {"full_name": "Carol", "email": "carol@example.com"})
    card3 = await post(
        client,
        "/cards",
        {"person_id": carol["person_id"], "number": "378282246310005", "expiry": "01/2035"},
    )
    assert card3["brand"] == "amex"
    await post(client, f"/cards/{card3['card_id']}/offers", {"offer_id": e["offer"]["offer_id"]})
    fourth = await feed(
        client,
        id="l4",
        card_id=card3["card_id"],
        merchant_id="58725",
        amount=100,
        currency="EUR",
        type="clearing",
    )
    assert fourth["explanation"]["offers"][0]["reasons"] == ["total_limit_reached"]


async def test_persons_cards_and_links_are_reused(client: Any) -> None:
    e = await enrolled(client)
    again = await post(
        client, "/persons", {"full_name": "J. Doe", "email": " JANE@example.com "}, 200
    )
    assert again["person_id"] == e["person"]["person_id"] and again["full_name"] == "Jane Doe"
    card = await post(
        client,
        "/cards",
        {
            "person_id": e["person"]["person_id"],
            "number": "4242-4242-4242-4242",
            "exp_month": 12,
            "exp_year": 30,
        },
        200,
    )
    assert card["card_id"] == e["card"]["card_id"]
    bob = await post(client, "/persons", {"full_name": "Bob", "email": "bob@example.com"})
    taken = await client.post(
        "/cards",
        json={"person_id": bob["person_id"], "number": PAN, "exp_month": 12, "exp_year": 2030},
    )
    assert taken.status_code == 409 and taken.json()["error_detail"]["code"] == (
        "CARD_ALREADY_ENROLLED"
    )
    link = await post(
        client, f"/cards/{card['card_id']}/offers", {"offer_id": e["offer"]["offer_id"]}, 200
    )
    assert link["card_offer_id"] == e["link"]["card_offer_id"]
    gone = await client.delete(f"/cards/{card['card_id']}/offers/{link['card_offer_id']}")
    assert gone.json()["status"] == "unlinked"
    back = await post(
        client, f"/cards/{card['card_id']}/offers", {"offer_id": e["offer"]["offer_id"]}
    )
    assert back["status"] == "active" and back["card_offer_id"] == link["card_offer_id"]
    listed = (await client.get(f"/persons/{bob['person_id']}/cards")).json()
    assert listed == []


@pytest.mark.parametrize(
    "body, code",
    [
        ({"number": PAN, "exp_month": 12, "exp_year": 2030, "cvv": "123"}, "CARD_CVV_NOT_ACCEPTED"),
        ({"number": "4242424242424241", "exp_month": 12, "exp_year": 2030}, "CARD_INVALID_NUMBER"),
        (
            {"number": "9999999999999995", "exp_month": 12, "exp_year": 2030},
            "CARD_UNSUPPORTED_BRAND",
        ),
        ({"number": PAN, "exp_month": 13, "exp_year": 2030}, "CARD_EXPIRED"),
        ({"number": PAN, "exp_month": 1, "exp_year": 2020}, "CARD_EXPIRED"),
        ({"number": PAN, "expiry": "1230"}, "CARD_EXPIRED"),
        ({"number": 4242424242424242.0, "exp_month": 12, "exp_year": 2030}, "CARD_INVALID_NUMBER"),
    ],
)
async def test_bad_cards_are_refused_without_echo(
    client: Any, store_url: str, body: dict[str, Any], code: str
) -> None:
    person = await post(client, "/persons", {"full_name": "Jane", "email": "j@example.com"})
    refused = await client.post("/cards", json={"person_id": person["person_id"], **body})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error_detail"]["code"] == code
    assert PAN not in refused.text and "123" not in refused.text
    assert await rows(store_url, "SELECT id FROM linked_cards") == []


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "currency": "EUR", "reward": {"type": "cashback", "amount": 1}},
        {"merchant_id": "1", "currency": "EUR", "reward": {"type": "cashback", "amount": 1}},
        {"merchant_id": "1", "name": "x", "currency": "EUR", "reward": {"type": "gift"}},
        {
            "merchant_id": "1",
            "name": "x",
            "currency": "EUR",
            "reward": {"type": "cashback", "amount": 1, "percent": 2},
        },
        {
            "merchant_id": "1",
            "name": "x",
            "currency": "EUR",
            "reward": {"type": "cashback", "percent": 101},
        },
        {
            "merchant_id": "1",
            "name": "x",
            "currency": "EUR",
            "reward": {"type": "cashback", "percent": "1.23456"},
        },
        {
            "merchant_id": "1",
            "name": "x",
            "currency": "EUR",
            "reward": {"type": "points", "amount": 5},
        },
        {
            "merchant_id": "1",
            "name": "x",
            "currency": "EUR",
            "status": "live",
            "reward": {"type": "cashback", "amount": 1},
        },
        {
            "merchant_id": "1",
            "name": "x",
            "currency": "EUR",
            "starts_at": "2026-02-01T00:00:00Z",
            "ends_at": "2026-01-01T00:00:00Z",
            "reward": {"type": "cashback", "amount": 1},
        },
        {
            "merchant_id": "1",
            "name": "x",
            "currency": "EUR",
            "return_period_days": -1,
            "reward": {"type": "cashback", "amount": 1},
        },
    ],
)
async def test_bad_offers_change_nothing(client: Any, store_url: str, body: dict[str, Any]) -> None:
    refused = await client.post("/offers", json=body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error_detail"]["code"] == "CARD_VALIDATION_ERROR"
    assert await rows(store_url, "SELECT id FROM offers") == []


async def test_bad_feed_messages_change_nothing(client: Any, store_url: str) -> None:
    e = await enrolled(client)
    base = {
        "id": "b1",
        "card_id": e["card"]["card_id"],
        "merchant_id": "58725",
        "amount": 100,
        "currency": "EUR",
        "type": "clearing",
    }
    for change in (
        {"type": "void"},
        {"amount": -5},
        {"amount": 1.5},
        {"card_id": None},
        {"number": PAN},
        {"cvv": "123", "card_id": None, "number": PAN},
        {"type": "refund"},
        {"datetime": "yesterday"},
    ):
        body = {k: v for k, v in {**base, **change}.items() if v is not None}
        refused = await client.post("/card-transactions", json=body)
        assert refused.status_code == 400, (change, refused.text)
        assert PAN not in refused.text
    missing = await client.post("/card-transactions", json={**base, "card_id": "card_nope"})
    assert missing.status_code == 404
    assert await rows(store_url, "SELECT id FROM card_transactions") == []


async def test_offer_status_changes(client: Any) -> None:
    e = await enrolled(client)
    oid, cid = e["offer"]["offer_id"], e["card"]["card_id"]
    paused = await client.patch(f"/offers/{oid}", json={"status": "paused"})
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    miss = await feed(
        client,
        id="s1",
        card_id=cid,
        merchant_id="58725",
        amount=100,
        currency="EUR",
        type="clearing",
    )
    assert miss["explanation"]["offers"][0]["reasons"] == ["offer_paused"]
    assert (await client.patch(f"/offers/{oid}", json={"status": "ended"})).status_code == 200
    resumed = await client.patch(f"/offers/{oid}", json={"status": "active"})
    assert resumed.status_code == 409
    relink = await client.post(f"/cards/{cid}/offers", json={"offer_id": oid})
    assert relink.status_code == 409  # an ended offer takes no links, not even existing ones
    assert relink.json()["error_detail"]["code"] == "OFFER_NOT_LINKABLE"
    bad = await client.patch(f"/offers/{oid}", json={"merchant_id": "2"})
    assert bad.status_code == 400


async def test_a_prepaid_budget_that_runs_out_stops_rewarding(client: Any) -> None:
    ledger = await post(client, "/ledgers", {"name": "Merchant budgets"})
    budget = await post(client, "/balances", {"ledger_id": ledger["ledger_id"], "currency": "EUR"})
    await post(
        client,
        "/transactions",
        {
            "precise_amount": 300,
            "currency": "EUR",
            "reference": "budget-1",
            "source": "@World",
            "destination": budget["balance_id"],
        },
    )
    e = await enrolled(
        client, reward={"type": "cashback", "amount": 200, "source": budget["balance_id"]}
    )
    cid = e["card"]["card_id"]
    first = await feed(
        client,
        id="p1",
        card_id=cid,
        merchant_id="58725",
        amount=1000,
        currency="EUR",
        type="clearing",
    )
    assert first["outcome"] == "rewarded"
    second = await feed(
        client,
        id="p2",
        card_id=cid,
        merchant_id="58725",
        amount=1000,
        currency="EUR",
        type="clearing",
    )
    assert second["outcome"] == "not_matched"
    assert second["explanation"]["offers"][0]["reasons"] == ["funding_exhausted"]
    shown = (await client.get(f"/balances/{budget['balance_id']}")).json()
    assert shown["balance"] == 100
