"""Lists, filters and search through the HTTP API, on SQLite and PostgreSQL.

The shop: a "Coffee Club" loyalty ledger where Alice (gold, 12 visits) earned 500 points and holds
200 of them for an order, Bob (silver, 3 visits) earned 80; a "Cards" ledger with a USD wallet
topped up with USD 100.50.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.testing import AsyncTestClient

from tally.api.app import create_app
from tally.services import Services
from tally.settings import Settings

Client = AsyncTestClient[Any]


@dataclass
class Shop:
    client: Client
    coffee: str
    cards: str
    alice: str
    bob: str
    alice_points: str
    bob_points: str
    wallet: str
    txns: dict[str, dict[str, Any]]

    async def get(self, path: str, **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get(path, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert isinstance(body, list)
        return body

    async def references(self, **params: Any) -> set[str]:
        return {t["reference"] for t in await self.get("/transactions", **params)}

    async def balance_ids(self, **params: Any) -> set[str]:
        return {b["balance_id"] for b in await self.get("/balances", **params)}

    async def post(self, path: str, body: Any, status: int = 200) -> Any:
        response = await self.client.post(path, json=body)
        assert response.status_code == status, response.text
        return response.json()


async def created(client: Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def open_shop(client: Client) -> Shop:
    coffee = await created(
        client,
        "/ledgers",
        {"name": "Coffee Club", "meta_data": {"program": "coffee", "region": "EU"}},
    )
    cards = await created(client, "/ledgers", {"name": "Cards", "meta_data": {"vip": True}})
    alice = await created(
        client,
        "/identities",
        {"first_name": "Alice", "last_name": "Martin", "email_address": "alice@example.com"},
    )
    bob = await created(
        client,
        "/identities",
        {"first_name": "Bob", "last_name": "Stone", "email_address": "bob@example.org"},
    )

    async def balance(ledger: str, currency: str, **extra: Any) -> str:
        body = {"ledger_id": ledger, "currency": currency, **extra}
        return str((await created(client, "/balances", body))["balance_id"])

    alice_points = await balance(
        coffee["ledger_id"],
        "PTS",
        identity_id=alice["identity_id"],
        meta_data={"tier": "gold", "visits": 12},
    )
    bob_points = await balance(
        coffee["ledger_id"],
        "PTS",
        identity_id=bob["identity_id"],
        meta_data={"tier": "silver", "visits": 3},
    )
    wallet = await balance(cards["ledger_id"], "USD")
    txns = {}
    for reference, fields in [
        (
            "earn-alice",
            {
                "source": "@World",
                "destination": alice_points,
                "precise_amount": 500,
                "currency": "PTS",
                "meta_data": {"channel": "web", "points": 500},
            },
        ),
        (
            "earn-bob",
            {
                "source": "@World",
                "destination": bob_points,
                "precise_amount": 80,
                "currency": "PTS",
                "meta_data": {"channel": "pos", "points": 80},
            },
        ),
        (
            "topup",
            {
                "source": "@World",
                "destination": wallet,
                "amount": 100.5,
                "precision": 100,
                "currency": "USD",
                "meta_data": {"channel": "web"},
            },
        ),
        (
            "hold-alice",
            {
                "source": alice_points,
                "destination": "@Store",
                "precise_amount": 200,
                "currency": "PTS",
                "inflight": True,
                "meta_data": {"order": "A-1"},
            },
        ),
    ]:
        body = {"reference": reference, "description": f"{reference} for the shop", **fields}
        txns[reference] = await created(client, "/transactions", body)
    return Shop(
        client,
        coffee["ledger_id"],
        cards["ledger_id"],
        alice["identity_id"],
        bob["identity_id"],
        alice_points,
        bob_points,
        wallet,
        txns,
    )


def error_code(response: Any, status: int = 400) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == body["error_detail"]["message"]
    return str(body["error_detail"]["code"])


# ---- GET lists -----------------------------------------------------------------------------------


async def test_lists_are_arrays_of_the_get_views_newest_first(client: Client) -> None:
    shop = await open_shop(client)
    ledgers = await shop.get("/ledgers")
    assert [item["name"] for item in ledgers[:2]] == ["Cards", "Coffee Club"]
    assert ledgers[-1]["ledger_id"] == "general_ledger_id"
    assert [t["reference"] for t in await shop.get("/transactions")] == [
        "hold-alice",
        "topup",
        "earn-bob",
        "earn-alice",
    ]
    for path, key, item in [
        ("/ledgers", "ledger_id", shop.cards),
        ("/balances", "balance_id", shop.wallet),
        ("/transactions", "transaction_id", shop.txns["topup"]["transaction_id"]),
        ("/identities", "identity_id", shop.bob),
    ]:
        listed = next(x for x in await shop.get(path) if x[key] == item)
        assert listed == (await client.get(f"{path}/{item}")).json()


async def test_default_page_sizes_and_paging_until_an_item_appears(client: Client) -> None:
    shop = await open_shop(client)
    for number in range(12):
        await created(client, "/ledgers", {"name": f"Branch {number:02}"})
    await created(client, "/identities", {"first_name": "Carol"})
    assert len(await shop.get("/ledgers")) == 10
    assert len(await shop.get("/balances")) == 6  # with @World in PTS and USD, and @Store
    assert len(await shop.get("/identities")) == 3
    seen: list[str] = []
    offset = 0
    while shop.coffee not in seen:
        page = await shop.get("/ledgers", limit=4, offset=offset)
        assert 0 < len(page) <= 4
        seen += [item["ledger_id"] for item in page]
        offset += 4
    assert len(seen) == len(set(seen)) == 15  # newest first: branches, Cards, Coffee Club
    assert seen[-1] == "general_ledger_id"
    assert await shop.get("/ledgers", limit=4, offset=100) == []


# ---- filters by operator family ------------------------------------------------------------------


async def test_text_and_status_operators(client: Client) -> None:
    shop = await open_shop(client)
    assert await shop.references(status_eq="INFLIGHT") == {"hold-alice"}
    assert await shop.references(currency_ne="PTS") == {"topup"}
    assert await shop.references(reference_in="earn-alice,earn-bob,nope") == {
        "earn-alice",
        "earn-bob",
    }
    assert await shop.references(reference_like="earn-%") == {"earn-alice", "earn-bob"}
    assert await shop.references(reference_like="EARN-%") == set()  # like is case-sensitive
    assert await shop.references(reference_ilike="EARN-%") == {"earn-alice", "earn-bob"}
    assert await shop.references(reference_like="hold\\_alice") == set()
    gift = {"source": "@World", "destination": shop.wallet, "precise_amount": 1,
            "currency": "USD", "reference": "gift*[1]?", "description": "gift card"}  # fmt: skip
    await created(client, "/transactions", gift)
    assert await shop.references(reference_like="gift*[1]?") == {"gift*[1]?"}
    assert await shop.references(reference_like="gift*[_]_") == {"gift*[1]?"}
    assert await shop.references(reference_like="gif?%") == set()  # ? is no wildcard in LIKE
    assert await shop.references(reference_ilike="GIFT*%") == {"gift*[1]?"}
    assert await shop.references(description_ilike="%SHOP") == set(shop.txns)
    names = {i["first_name"] for i in await shop.get("/identities", first_name_ilike="ali%")}
    assert names == {"Alice"}
    emails = await shop.get("/identities", email_address_like="%.org")
    assert [i["identity_id"] for i in emails] == [shop.bob]
    assert [x["name"] for x in await shop.get("/ledgers", name_eq="Cards")] == ["Cards"]


async def test_amount_operators_compare_whole_minor_units(client: Client) -> None:
    shop = await open_shop(client)
    pts = {"currency_eq": "PTS"}
    assert await shop.references(precise_amount_gt="80", **pts) == {"earn-alice", "hold-alice"}
    assert await shop.references(precise_amount_gte="80", precise_amount_lte="200") == {
        "earn-bob",
        "hold-alice",
    }
    assert await shop.references(precise_amount_lt="80") == set()
    assert await shop.references(precise_amount_between="200|10050") == {
        "hold-alice",
        "topup",
        "earn-alice",
    }
    assert await shop.references(amount_eq="100.50") == {"topup"}
    assert await shop.references(amount_between="100|150") == {"topup"}
    assert await shop.references(amount_gt="100.5") == {"earn-alice", "hold-alice"}
    coffee = {"ledger_id_eq": shop.coffee}
    assert await shop.balance_ids(inflight_debit_balance_gt="0") == {shop.alice_points}
    assert await shop.balance_ids(credit_balance_eq="80") == {shop.bob_points}
    assert await shop.balance_ids(available_balance_gte="100", **coffee) == {shop.alice_points}
    assert await shop.balance_ids(available_balance_lt="400", **coffee) == {
        shop.alice_points,
        shop.bob_points,
    }
    assert await shop.balance_ids(balance_lt="0") == {
        b["balance_id"] for b in await shop.get("/balances", indicator_eq="@World")
    }


async def test_null_boolean_and_time_operators(client: Client) -> None:
    shop = await open_shop(client)
    both = {"ledger_id_in": f"{shop.coffee},{shop.cards}"}
    assert await shop.balance_ids(identity_id_isnull="", **both) == {shop.wallet}
    assert len(await shop.balance_ids(indicator_isnotnull="")) == 3
    assert len(await shop.balance_ids(allow_overdraft_eq="true")) == 3
    bob_at = shop.txns["earn-bob"]["created_at"]
    assert await shop.references(created_at_gte=bob_at, currency_eq="PTS") == {
        "earn-bob",
        "hold-alice",
    }
    assert await shop.references(created_at_lt=bob_at) == {"earn-alice"}
    assert await shop.references(created_at_eq=bob_at) == {"earn-bob"}
    assert await shop.references(created_at_between="2000-01-01|2999-12-31") == set(shop.txns)
    assert await shop.references(created_at_gt="2999-01-01") == set()
    assert await shop.references(effective_date_lte="2000-01-01") == set()
    assert await shop.references(parent_transaction_isnull="") == set(shop.txns)
    assert await shop.references(parent_transaction_isnotnull="") == set()
    hold = shop.txns["hold-alice"]["transaction_id"]
    commit = await shop.client.put(
        f"/transactions/inflight/{hold}", json={"status": "commit", "precise_amount": 50}
    )
    assert commit.status_code == 200, commit.text
    children = await shop.get("/transactions", parent_transaction_isnotnull="")
    assert [(t["parent_transaction"], t["precise_amount"]) for t in children] == [(hold, 50)]


async def test_or_joins_filters(client: Client) -> None:
    shop = await open_shop(client)
    found = await shop.references(status_eq="INFLIGHT", currency_eq="USD", logical_operator="or")
    assert found == {"hold-alice", "topup"}


async def test_meta_data_filters(client: Client) -> None:
    shop = await open_shop(client)
    coffee = {"ledger_id_eq": shop.coffee}
    assert await shop.balance_ids(**{"meta_data.tier_eq": "gold"}) == {shop.alice_points}
    assert await shop.balance_ids(**{"meta_data.visits_eq": "12"}) == {shop.alice_points}
    assert await shop.balance_ids(**{"meta_data.visits_gt": "5"}) == {shop.alice_points}
    assert await shop.balance_ids(**{"meta_data.visits_lte": "12"}) == {
        shop.alice_points,
        shop.bob_points,
    }
    assert await shop.balance_ids(**{"meta_data.tier_ne": "gold"}, **coffee) == {shop.bob_points}
    assert await shop.balance_ids(**{"meta_data.tier_in": "gold,silver"}) == {
        shop.alice_points,
        shop.bob_points,
    }
    assert await shop.balance_ids(**{"meta_data.tier_isnull": ""}, **coffee) == set()
    assert await shop.references(**{"meta_data.channel_eq": "web"}) == {"earn-alice", "topup"}
    assert await shop.references(**{"meta_data.points_between": "50|100"}) == {"earn-bob"}
    assert await shop.references(**{"meta_data.channel_like": "p%"}) == {"earn-bob"}
    assert await shop.references(**{"meta_data.order_isnotnull": ""}) == {"hold-alice"}
    names = [x["name"] for x in await shop.get("/ledgers", **{"meta_data.region_eq": "EU"})]
    assert names == ["Coffee Club"]
    assert [x["name"] for x in await shop.get("/ledgers", **{"meta_data.vip_eq": "true"})] == [
        "Cards"
    ]
    for value in (3, "3"):
        body = {"filters": [{"field": "meta_data.visits", "operator": "eq", "value": value}]}
        found = await shop.post("/balances/filter", body)
        assert [b["balance_id"] for b in found] == [shop.bob_points]


async def test_balance_id_and_indicator_match_either_side(client: Client) -> None:
    shop = await open_shop(client)
    assert await shop.references(balance_id_eq=shop.alice_points) == {"earn-alice", "hold-alice"}
    assert await shop.references(balance_id_ne=shop.alice_points, currency_eq="PTS") == {"earn-bob"}
    assert await shop.references(balance_id_in=f"{shop.bob_points},{shop.wallet}") == {
        "earn-bob",
        "topup",
    }
    assert await shop.references(indicator_eq="@World") == {"earn-alice", "earn-bob", "topup"}
    assert await shop.references(indicator_eq="@Store") == {"hold-alice"}
    assert await shop.references(indicator_ne="@World") == {"hold-alice"}
    assert await shop.references(indicator_like="@St%") == {"hold-alice"}
    assert await shop.references(source_identity_eq=shop.alice) == {"hold-alice"}
    assert await shop.references(destination_identity_eq=shop.alice) == {"earn-alice"}
    bad = {"filters": [{"field": "balance_id", "operator": "gt", "value": shop.wallet}]}
    response = await client.post("/transactions/filter", json=bad)
    assert error_code(response) == "GEN_BAD_REQUEST"


# ---- POST /{entity}/filter -----------------------------------------------------------------------


async def test_the_filter_body_blnk_python_sends_with_a_count(client: Client) -> None:
    shop = await open_shop(client)
    body = {
        "filters": [{"field": "status", "operator": "in", "values": ["APPLIED", "INFLIGHT"]}],
        "logical_operator": "and",
        "sort_by": "created_at",
        "sort_order": "desc",
        "limit": 10,
        "offset": 0,
        "include_count": True,
    }
    found = await shop.post("/transactions/filter", body)
    assert found["total_count"] == 4
    assert [t["reference"] for t in found["data"]] == [
        "hold-alice",
        "topup",
        "earn-bob",
        "earn-alice",
    ]
    page = await shop.post("/transactions/filter", {**body, "limit": 1, "offset": 1})
    assert (page["total_count"], [t["reference"] for t in page["data"]]) == (4, ["topup"])
    plain = await shop.post("/transactions/filter", {**body, "include_count": False})
    assert isinstance(plain, list) and len(plain) == 4
    everything = await shop.post("/identities/filter", {"filters": []})
    assert {i["identity_id"] for i in everything} == {shop.alice, shop.bob}
    ledgers = await shop.post(
        "/ledgers/filter", {"filters": [{"field": "name", "operator": "ilike", "value": "%club%"}]}
    )
    assert [x["ledger_id"] for x in ledgers] == [shop.coffee]


async def test_sorting_amounts_text_and_ties(client: Client) -> None:
    shop = await open_shop(client)

    async def order(entity: str, sort_by: str, sort_order: str, *filters: Any) -> list[Any]:
        body = {"filters": list(filters), "sort_by": sort_by, "sort_order": sort_order}
        return list(await shop.post(f"/{entity}/filter", body))

    pts = {"field": "currency", "operator": "eq", "value": "PTS"}
    ascending = await order("transactions", "precise_amount", "asc", pts)
    assert [t["precise_amount"] for t in ascending] == [80, 200, 500]
    descending = await order("transactions", "precise_amount", "desc", pts)
    assert [t["precise_amount"] for t in descending] == [500, 200, 80]
    by_amount = await order("transactions", "amount", "asc")
    assert [t["reference"] for t in by_amount] == ["earn-bob", "topup", "hold-alice", "earn-alice"]
    coffee = {"field": "ledger_id", "operator": "eq", "value": shop.coffee}
    balances = await order("balances", "balance", "asc", coffee)
    assert [b["balance_id"] for b in balances] == [shop.bob_points, shop.alice_points]
    names = [x["name"] for x in await shop.get("/ledgers", sort_by="name", sort_order="asc")]
    assert names == sorted(names)  # bytewise on both stores: capitals first
    oldest = await order("balances", "currency", "asc", coffee)
    assert [b["balance_id"] for b in oldest] == [shop.alice_points, shop.bob_points]


async def test_amounts_beyond_float_precision_filter_and_sort_exactly(client: Client) -> None:
    ledger = (await created(client, "/ledgers", {"name": "Vault"}))["ledger_id"]
    amounts = [2**53 + 1, 2**53, 9_223_372_036_854_775_000]
    ids = {}
    for index, amount in enumerate(amounts):
        balance = await created(client, "/balances", {"ledger_id": ledger, "currency": "MIL"})
        ids[amount] = balance["balance_id"]
        await created(
            client,
            "/transactions",
            {
                "source": f"@Mint{index}",
                "destination": balance["balance_id"],
                "currency": "MIL",
                "precise_amount": amount,
                "reference": f"mint-{index}",
                "description": "mint",
            },
        )
    vault = {"field": "ledger_id", "operator": "eq", "value": ledger}

    async def found(*filters: Any, **options: Any) -> list[str]:
        body = {"filters": [vault, *filters], **options}
        response = await client.post("/balances/filter", json=body)
        return [b["balance_id"] for b in response.json()]

    exact = {"field": "balance", "operator": "eq", "value": 2**53 + 1}
    assert await found(exact) == [ids[2**53 + 1]]
    above = {"field": "balance", "operator": "gt", "value": 2**53}
    assert set(await found(above)) == {ids[2**53 + 1], ids[9_223_372_036_854_775_000]}
    assert await found(sort_by="balance", sort_order="asc") == [ids[a] for a in sorted(amounts)]
    response = await client.get("/transactions", params={"precise_amount_eq": str(2**53)})
    assert [t["reference"] for t in response.json()] == ["mint-1"]


# ---- search --------------------------------------------------------------------------------------


async def test_the_search_blnk_python_sends(client: Client) -> None:
    shop = await open_shop(client)
    body = {
        "q": "*",
        "filter_by": "currency:=USD",
        "sort_by": "created_at:desc",
        "page": 1,
        "per_page": 10,
    }
    result = await shop.post("/search/balances", body)
    assert (result["found"], result["out_of"], result["page"]) == (2, 6, 1)
    assert result["request_params"] == {
        "collection_name": "balances",
        "first_q": "*",
        "per_page": 10,
        "q": "*",
    }
    assert isinstance(result["search_time_ms"], int)
    wallet = result["hits"][1]
    assert wallet["highlights"] == [] and wallet["text_match"] == 0
    document = wallet["document"]
    assert document["id"] == document["balance_id"] == shop.wallet
    assert document["balance"] == document["credit_balance"] == "10050"
    assert isinstance(document["created_at"], int) and document["created_at"] > 1_700_000_000
    assert document["inflight_expires_at"] == 0


async def test_search_text_filters_sorting_and_pages(client: Client) -> None:
    shop = await open_shop(client)

    async def references(body: dict[str, Any]) -> list[str]:
        result = await shop.post("/search/transactions", body)
        return [hit["document"]["reference"] for hit in result["hits"]]

    assert set(await references({"q": "earn"})) == {"earn-alice", "earn-bob"}
    assert await references({"q": "EARN alice"}) == ["earn-alice"]
    assert await references({"q": "nobody"}) == []
    by_points = {
        "q": "*",
        "filter_by": "precise_amount:>=100 && currency:=PTS",
        "sort_by": "precise_amount:asc",
    }
    assert await references(by_points) == ["hold-alice", "earn-alice"]
    assert await references({**by_points, "per_page": 1, "page": 2}) == ["earn-alice"]
    beyond = await shop.post("/search/transactions", {"q": "earn", "per_page": 1, "page": 5})
    assert (beyond["hits"], beyond["found"], beyond["out_of"], beyond["page"]) == ([], 2, 4, 5)
    grouped = "(status:=INFLIGHT || currency:USD) && precise_amount:[100..20000]"
    assert set(await references({"q": "*", "filter_by": grouped})) == {"hold-alice", "topup"}
    assert set(await references({"q": "*", "filter_by": "meta_data.channel:=web"})) == {
        "earn-alice",
        "topup",
    }
    result = await shop.post("/search/transactions", {"q": "topup", "include_fields": "id,amount"})
    document = result["hits"][0]["document"]
    assert document == {"id": shop.txns["topup"]["transaction_id"], "amount": 100.5}
    seconds = (await shop.post("/search/transactions", {"q": "earn-bob"}))["hits"][0]["document"]
    assert seconds["precise_amount"] == "80" and seconds["scheduled_for"] == 0
    since = f"created_at:>={seconds['created_at']} && currency:=PTS"
    assert set(await references({"q": "*", "filter_by": since})) >= {"earn-bob", "hold-alice"}
    people = await shop.post("/search/identities", {"q": "example", "sort_by": "first_name:asc"})
    assert [h["document"]["first_name"] for h in people["hits"]] == ["Alice", "Bob"]
    assert isinstance(people["hits"][0]["document"]["dob"], int)
    clubs = await shop.post("/search/ledgers", {"q": "coffee"})
    assert [h["document"]["id"] for h in clubs["hits"]] == [shop.coffee]


async def test_multi_search_answers_each_search_in_its_place(client: Client) -> None:
    shop = await open_shop(client)
    body = {
        "searches": [
            {"collection": "balances", "q": "*", "filter_by": f"ledger_id:={shop.cards}"},
            {"collection": "identities", "q": "bob"},
            {"collection": "accounts", "q": "*"},
            {"collection": "ledgers", "q": "*", "filter_by": "name:>"},
        ]
    }
    results = (await shop.post("/multi-search", body))["results"]
    assert [h["document"]["id"] for h in results[0]["hits"]] == [shop.wallet]
    assert [h["document"]["id"] for h in results[1]["hits"]] == [shop.bob]
    assert results[2]["code"] == 400
    assert results[2]["error_detail"]["code"] == "SRCH_QUERY_INVALID"
    assert results[3]["error_detail"]["code"] == "SRCH_QUERY_INVALID"


# ---- bad input -----------------------------------------------------------------------------------


async def test_bad_filters_and_bodies_are_clear_400s(client: Client) -> None:
    await open_shop(client)
    unknown = await client.get("/transactions", params={"x_eq": "1"})
    assert error_code(unknown) == "GEN_BAD_REQUEST"
    assert unknown.json()["error"] == "Invalid filter: invalid field 'x' for table 'transactions'"
    assert error_code(await client.get("/ledgers", params={"limit": "ten"})) == (
        "GEN_VALIDATION_ERROR"
    )
    assert error_code(await client.get("/balances", params={"balance_gt": "lots"})) == (
        "GEN_BAD_REQUEST"
    )
    filter_path = "/transactions/filter"
    for raw, code in [
        (b"", "GEN_VALIDATION_ERROR"),
        (b"{not json", "GEN_MALFORMED_REQUEST"),
        (b"[]", "GEN_VALIDATION_ERROR"),
        (b'{"logical_operator": "xor"}', "GEN_VALIDATION_ERROR"),
        (b'{"filters": "status"}', "GEN_VALIDATION_ERROR"),
        (b'{"filters": [{"field": "status", "operator": "near", "value": 1}]}', "GEN_BAD_REQUEST"),
    ]:
        response = await client.post(
            filter_path, content=raw, headers={"content-type": "application/json"}
        )
        assert error_code(response) == code, raw
    for path, raw in [
        ("/search/accounts", b""),
        ("/search/ledgers", b'{"filter_by": "x:=1"}'),
        ("/multi-search", b"{}"),
    ]:
        response = await client.post(
            path, content=raw, headers={"content-type": "application/json"}
        )
        assert error_code(response) == "SRCH_QUERY_INVALID", path
    assert error_code(await client.post("/search/ledgers", content=b"")) == "GEN_VALIDATION_ERROR"


async def test_existing_routes_next_to_the_lists_still_answer(client: Client) -> None:
    shop = await open_shop(client)
    topup = shop.txns["topup"]
    assert (await client.get(f"/transactions/{topup['transaction_id']}")).json() == topup
    assert (await client.get("/transactions/reference/topup")).status_code == 200
    assert (await client.get(f"/balances/{shop.wallet}")).status_code == 200
    assert error_code(await client.get("/transactions/txn_missing"), 404) == "TXN_NOT_FOUND"


async def test_a_read_only_key_may_filter_and_search_but_not_write(store_url: str) -> None:
    settings = Settings(
        database_url=store_url,
        auto_migrate=False,
        run_workers=False,
        master_key="master-secret-for-tests",
    )
    app = create_app(Services.build(settings))
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:5001") as client:
        master = {"X-Blnk-Key": "master-secret-for-tests"}
        key = await client.post(
            "/api-keys",
            headers=master,
            json={
                "name": "reports",
                "owner": "finance",
                "scopes": ["transactions:read", "search:read"],
            },
        )
        assert key.status_code == 201, key.text
        reader = {"X-Blnk-Key": key.json()["key"]}
        listed = await client.post("/transactions/filter", headers=reader, json={"filters": []})
        assert listed.status_code == 200 and listed.json() == []
        found = await client.post("/search/transactions", headers=reader, json={"q": "*"})
        assert found.status_code == 200 and found.json()["found"] == 0
        assert (await client.get("/transactions", headers=reader)).status_code == 200
        refused = await client.post("/balances/filter", headers=reader, json={"filters": []})
        assert error_code(refused, 403) == "AUTH_INSUFFICIENT_PERMISSIONS"
        write = await client.post("/transactions", headers=reader, json={"reference": "r"})
        assert error_code(write, 403) == "AUTH_INSUFFICIENT_PERMISSIONS"
