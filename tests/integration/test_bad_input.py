"""Bad input on every ledger endpoint, on both stores: a clear 4xx, and nothing changes.

Each group of requests runs against one prepared scene (a funded wallet, an open hold, a voided
hold, a payment, a refunded payment). After every request the test checks the error envelope and
that balances, the prepared objects and the row counts of every ledger table, events included,
are exactly as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient

from tally.api.app import create_app
from tally.services import Services
from tally.settings import Settings
from tally.store import tables as t
from tally.store.database import Database

Client = Any
pytestmark = pytest.mark.asyncio


@dataclass
class Scene:
    ledger: str
    identity: str
    alice: str  # USD 100.00, linked to the identity
    bob: str  # USD, holds 5.00 (and 10.00 on hold for it)
    euros: str  # EUR, empty
    world: str  # @World in USD
    hold: str  # USD 10.00 held from alice to bob
    voided: str  # a hold from alice to bob, voided
    payment: str  # USD 5.00 from alice to bob, reference "paid"
    refunded: str  # USD 1.00 from alice to bob, refunded
    refund: str  # the refund of it


NOT_VALIDATION = {None, "TXN_INSUFFICIENT_FUNDS", "TXN_COMMIT_AMOUNT_EXCEEDED", "TXN_NOT_INFLIGHT"}


@dataclass
class Case:
    name: str
    request: str  # "METHOD /path", the path formatted with the scene's fields
    body: Any = None  # a JSON value, raw bytes, or a function of the scene
    answer: str = "400"  # "status" or "status CODE"

    @property
    def method(self) -> str:
        return self.request.split(" ", 1)[0]

    @property
    def path(self) -> str:
        return self.request.split(" ", 1)[1]

    @property
    def status(self) -> int:
        return int(self.answer.split()[0])

    @property
    def code(self) -> str | None:
        parts = self.answer.split()
        return parts[1] if len(parts) > 1 else None

    @property
    def validation(self) -> bool:
        """A validation error, which also carries Blnk's legacy ``errors`` key."""
        return self.status == 400 and self.code not in NOT_VALIDATION


async def created(client: Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def transfer(client: Client, reference: str, source: str, dest: str, **extra: Any) -> str:
    body = {
        "amount": extra.pop("amount", 5),
        "precision": 100,
        "currency": "USD",
        "reference": reference,
        "source": source,
        "destination": dest,
        **extra,
    }
    return str((await created(client, "/transactions", body))["transaction_id"])


@pytest.fixture
async def scene(client: Client) -> Scene:
    ledger = (await created(client, "/ledgers", {"name": "Wallets"}))["ledger_id"]
    identity = (await created(client, "/identities", {"first_name": "Alice"}))["identity_id"]

    async def open_balance(currency: str, **extra: Any) -> str:
        body = {"ledger_id": ledger, "currency": currency, **extra}
        return str((await created(client, "/balances", body))["balance_id"])

    alice = await open_balance("USD", identity_id=identity)
    bob, euros = await open_balance("USD"), await open_balance("EUR")
    await transfer(client, "deposit", "@World", alice, amount=100, allow_overdraft=True)
    world = (await client.get("/balances/indicator/@World/currency/USD")).json()["balance_id"]
    hold = await transfer(client, "held", alice, bob, amount=10, inflight=True)
    voided = await transfer(client, "released", alice, bob, amount=2, inflight=True)
    assert (
        await client.put(f"/transactions/inflight/{voided}", json={"status": "void"})
    ).is_success
    payment = await transfer(client, "paid", alice, bob)
    refunded = await transfer(client, "returned", alice, bob, amount=1)
    refund = (await created(client, f"/refund-transaction/{refunded}", {}))["transaction_id"]
    return Scene(
        ledger, identity, alice, bob, euros, world, hold, voided, payment, refunded, refund
    )


async def snapshot(client: Client, db: Database, scene: Scene) -> dict[str, Any]:
    """Everything a bad request could have touched."""
    views = {}
    for path in (
        *(f"/balances/{b}" for b in (scene.alice, scene.bob, scene.euros, scene.world)),
        f"/ledgers/{scene.ledger}",
        f"/identities/{scene.identity}",
        *(f"/transactions/{x}" for x in (scene.hold, scene.payment, scene.refund)),
    ):
        response = await client.get(path)
        assert response.status_code == 200, response.text
        views[path] = response.json()
    async with db.read() as conn:
        for table in (t.ledgers, t.balances, t.identities, t.transactions, t.events):
            count = await conn.execute(sa.select(sa.func.count()).select_from(table))
            views[f"rows:{table.name}"] = count.scalar_one()
    return views


async def send(client: Client, case: Case, scene: Scene) -> Any:
    path = case.path.format(**vars(scene))
    body = case.body(scene) if callable(case.body) else case.body
    kwargs: dict[str, Any] = {}
    if isinstance(body, bytes):
        kwargs = {"content": body, "headers": {"content-type": "application/json"}}
    elif body is not None:
        kwargs = {"json": body}
    return await client.request(case.method, path, **kwargs)


def complaints(case: Case, response: Any) -> list[str]:
    """What is wrong with the answer to ``case`` (nothing, when it is the expected clear 4xx)."""
    if response.status_code != case.status:
        return [f"status {response.status_code}, wanted {case.status}: {response.text[:300]}"]
    body = response.json()
    detail = body.get("error_detail") or {}
    found = []
    if not body.get("error") or body["error"] != detail.get("message") or not detail.get("code"):
        found.append(f"bad envelope {body}")
    if case.code is not None and detail.get("code") != case.code:
        found.append(f"code {detail.get('code')}, wanted {case.code}: {body.get('error')}")
    if case.validation and body.get("errors") != body.get("error"):
        found.append(f"no legacy errors key: {body}")
    return found


async def check_cases(client: Client, db: Database, scene: Scene, cases: list[Case]) -> None:
    before = await snapshot(client, db, scene)
    failures = []
    for case in cases:
        response = await send(client, case, scene)
        problems = complaints(case, response)
        body = case.body(scene) if callable(case.body) else case.body
        reference = body.get("reference") if isinstance(body, dict) else None
        if reference and reference not in ("paid", "held", "deposit"):
            found = await client.get(f"/transactions/reference/{reference}")
            if found.status_code != 404:
                problems.append(f"a transaction with reference {reference!r} exists")
        if await snapshot(client, db, scene) != before:
            problems.append("the request changed the ledger")
            before = await snapshot(client, db, scene)
        failures += [f"{case.name}: {problem}" for problem in problems]
    assert not failures, "\n".join(failures)


def txn(**changes: Any) -> Callable[[Scene], dict[str, Any]]:
    """A USD 1.00 payment from alice to bob, with ``changes``: ``...`` drops a field, ``"$bob"``
    names a balance of the scene, a callable is given the scene."""

    def build(s: Scene) -> dict[str, Any]:
        body: dict[str, Any] = {
            "amount": 1,
            "precision": 100,
            "currency": "USD",
            "reference": "bad",
            "source": s.alice,
            "destination": s.bob,
        }
        for key, value in changes.items():
            if value is ...:
                body.pop(key, None)
            elif isinstance(value, str) and value.startswith("$"):
                body[key] = getattr(s, value[1:])
            else:
                body[key] = value(s) if callable(value) else value
        return body

    return build


def raw(**fields: Any) -> Callable[[Scene], bytes]:
    """A payment body with literal JSON text for some fields (numbers Python cannot send)."""

    def build(s: Scene) -> bytes:
        base = txn(**{k: ... for k in ("amount", *fields)})(s)
        text = msgspec.json.encode(base).decode()[:-1]
        return (text + "".join(f', "{k}": {v}' for k, v in fields.items()) + "}").encode()

    return build


def split(*legs: tuple[str, str]) -> Callable[[Scene], list[dict[str, str]]]:
    """Destinations: (scene balance or literal id, distribution) per leg."""
    return lambda s: [{"identifier": getattr(s, who, who), "distribution": d} for who, d in legs]


def pay(name: str, code: str, status: int = 400, **changes: Any) -> Case:
    """POST /transactions with a changed payment."""
    return Case(name, "POST " + TX, txn(**changes), f"{status} {code}")


V, TX, AMOUNT = "TXN_VALIDATION_ERROR", "/transactions", "TXN_INVALID_AMOUNT"
PRECISION, FUNDS = "TXN_PRECISION_NOT_INTEGER", "TXN_INSUFFICIENT_FUNDS"
TRANSACTION_CASES = [
    pay("amount is text", V, amount="abc"),
    pay("currency is a number", V, currency=5),
    pay("inflight is text", V, inflight="maybe"),
    pay("meta_data is a list", V, meta_data=[1]),
    pay("destinations is text", V, destination=..., destinations="x"),
    pay("no currency", V, currency=...),
    pay("blank reference", V, reference=" "),
    pay("no source", V, source=...),
    pay("no destination", V, destination=...),
    pay("no amount", V, amount=...),
    pay("unknown destination", "BAL_NOT_FOUND", 404, destination="bln_unknown"),
    pay("unknown source", "BAL_NOT_FOUND", 404, source="bln_unknown"),
    pay("amount 1e300", AMOUNT, amount=1e300, source="@World"),
    pay("precise_amount of 39 digits", AMOUNT, amount=..., precise_amount=10**38),
    Case("precise_amount of 5000 digits", "POST " + TX, raw(precise_amount="9" * 5000)),
    Case("amount beyond a double", "POST " + TX, raw(amount="1e400")),
    pay("overdraft limit 1e300", AMOUNT, overdraft_limit=1e300),
    pay("precision 1e19", PRECISION, precision=1e19),
    pay("negative amount", AMOUNT, amount=-1),
    pay("zero amount", V, amount=0),
    pay("negative precise_amount", AMOUNT, amount=..., precise_amount=-5),
    pay("zero precise_amount text", AMOUNT, amount=..., precise_amount="0"),
    pay("precise_amount --5", AMOUNT, amount=..., precise_amount="--5"),
    pay("both amounts", V, precise_amount=100),
    pay("precision 2.5", PRECISION, precision=2.5),
    pay("negative precision", PRECISION, precision=-100),
    pay("finer than a cent", AMOUNT, amount=1.005),
    pay("16 significant digits", AMOUNT, amount=1234567890.123456),
    pay("dollars into euros", "TXN_CURRENCY_MISMATCH", destination="$euros"),
    pay("euros out of dollars", "TXN_CURRENCY_MISMATCH", currency="EUR"),
    pay("duplicate reference", "TXN_DUPLICATE_REFERENCE", 409, reference="paid"),
    pay("paying yourself", V, destination="$alice"),
    pay("world paying itself", V, source="@World", destination="$world"),
    pay("effective date in words", V, effective_date="yesterday"),
    pay("30 February", V, effective_date="2026-02-30T00:00:00Z"),
    pay("date without zone", V, effective_date="2026-03-01T00:00:00"),
    pay("date beyond year 9999", V, effective_date="9999-12-31T23:59:59-01:00"),
    pay("scheduled in words", V, scheduled_for="soon"),
    pay("expiry in the past", V, inflight=True, inflight_expiry_date="2000-01-01T00:00:00Z"),
    pay("expiry without a hold", V, inflight_expiry_date="2999-01-01T00:00:00Z"),
    pay("not enough money", FUNDS, amount=1000, source="$bob", destination="$alice"),
    pay("past the overdraft limit", FUNDS, amount=500, overdraft_limit=100),
    pay(
        "split over 100%",
        "TXN_INVALID_DISTRIBUTION",
        destination=...,
        destinations=split(("bob", "60%"), ("euros", "60%")),
    ),
    pay(
        "split with an unknown leg",
        "BAL_NOT_FOUND",
        404,
        destination=...,
        destinations=split(("bob", "50%"), ("bln_unknown", "left")),
    ),
    pay(
        "split with a euro leg",
        "TXN_CURRENCY_MISMATCH",
        destination=...,
        destinations=split(("bob", "50%"), ("euros", "left")),
    ),
    pay(
        "split beyond the money",
        FUNDS,
        amount=150,
        destination=...,
        destinations=split(("bob", "50%"), ("world", "left")),
    ),
    pay("reference of 513 characters", V, reference="r" * 513),
    pay("indicator with a space", V, source="@ World"),
    Case("malformed JSON", "POST " + TX, b'{"amount": 1,', "400 GEN_MALFORMED_REQUEST"),
    Case("NaN in JSON", "POST " + TX, b'{"amount": NaN}', "400 GEN_MALFORMED_REQUEST"),
    Case("empty body", "POST " + TX, b"", f"400 {V}"),
    Case("array body", "POST " + TX, b"[]", f"400 {V}"),
    Case("string body", "POST " + TX, b'"pay"', f"400 {V}"),
    Case("number body", "POST " + TX, b"42", f"400 {V}"),
    Case("null body", "POST " + TX, b"null", f"400 {V}"),
    Case("unknown id", "GET /transactions/txn_unknown", None, "404 TXN_NOT_FOUND"),
    Case("unknown reference", "GET /transactions/reference/nope", None, "404 TXN_NOT_FOUND"),
]


def settle(name: str, body: Any, answer: str, hold: str = "{hold}") -> Case:
    """PUT /transactions/inflight/<hold>."""
    return Case(name, f"PUT /transactions/inflight/{hold}", body, answer)


COMMIT, VOID = "POST /transactions/inflight/bulk/commit", "POST /transactions/inflight/bulk/void"
ACTION, EMPTY, LIMIT = (
    "400 TXN_INVALID_STATUS_ACTION",
    "400 TXN_BULK_EMPTY",
    "400 TXN_BULK_LIMIT_EXCEEDED",
)
SETTLE_CASES = [
    settle("unknown hold", {"status": "commit"}, "404 TXN_NOT_FOUND", "txn_unknown"),
    settle("approve is not an action", {"status": "approve"}, ACTION),
    settle("no action", {}, ACTION),
    settle("negative commit", {"status": "commit", "amount": -5}, f"400 {AMOUNT}"),
    settle("zero precise commit", {"status": "commit", "precise_amount": "0"}, f"400 {AMOUNT}"),
    settle("huge commit", {"status": "commit", "precise_amount": 10**38}, f"400 {AMOUNT}"),
    settle("commit finer than a cent", {"status": "commit", "amount": 1.005}, f"400 {AMOUNT}"),
    settle("commit more", {"status": "commit", "amount": 20}, "400 TXN_COMMIT_AMOUNT_EXCEEDED"),
    settle("commit a payment", {"status": "commit"}, "400 TXN_NOT_INFLIGHT", "{payment}"),
    settle("commit a voided hold", {"status": "commit"}, "409 TXN_ALREADY_VOIDED", "{voided}"),
    settle("void a voided hold", {"status": "void"}, "409 TXN_ALREADY_VOIDED", "{voided}"),
    settle("commit amount is text", {"status": "commit", "amount": "abc"}, f"400 {V}"),
    settle("malformed JSON", b'{"status": ', "400 GEN_MALFORMED_REQUEST"),
    settle("array body", b"[]", f"400 {V}"),
    Case("bulk commit of nothing", COMMIT, {"transactions": []}, EMPTY),
    Case(
        "bulk commit of 101",
        COMMIT,
        lambda s: {"transactions": [{"transaction_id": s.hold}] * 101},
        LIMIT,
    ),
    Case("bulk commit without ids", COMMIT, {"transactions": [{}]}, f"400 {V}"),
    Case("bulk void of nothing", VOID, {"transaction_ids": []}, EMPTY),
    Case("bulk void of 101", VOID, lambda s: {"transaction_ids": [s.hold] * 101}, LIMIT),
    Case("bulk void without the list", VOID, {}, f"400 {V}"),
]


def bulk(*items: Callable[[Scene], dict[str, Any]], atomic: bool = True) -> Callable[..., Any]:
    return lambda s: {"atomic": atomic, "transactions": [item(s) for item in items]}


def refund(name: str, target: str, answer: str, body: Any = None) -> Case:
    """POST /refund-transaction/<target>."""
    return Case(name, f"POST /refund-transaction/{target}", body, answer)


BULK = "POST /transactions/bulk"
BULK_AND_REFUND_CASES = [
    Case("empty bulk", BULK, {"transactions": []}, EMPTY),
    Case("bulk without a list", BULK, {}, EMPTY),
    Case("bulk of 10001", BULK, {"transactions": [{}] * 10_001}, LIMIT),
    Case("bulk list is text", BULK, {"transactions": "x"}, f"400 {V}"),
    Case(
        "bulk with an invalid item",
        BULK,
        bulk(txn(reference="bulk-ok"), txn(reference="bulk-bad", currency=...), atomic=False),
        f"400 {V}",
    ),
    Case(
        "atomic bulk with a failing item",
        BULK,
        bulk(
            txn(reference="atomic-ok"),
            txn(reference="atomic-broke", amount=1000, source="$bob", destination="$alice"),
        ),
        f"400 {FUNDS}",
    ),
    Case(
        "atomic bulk with a duplicate",
        BULK,
        bulk(txn(reference="atomic-ok"), txn(reference="atomic-ok")),
        "409 TXN_DUPLICATE_REFERENCE",
    ),
    refund("refund of nothing", "txn_unknown", "404 TXN_NOT_FOUND"),
    refund("refund of a refund", "{refund}", "400 TXN_NOT_REFUNDABLE"),
    refund("second refund", "{refunded}", "409 TXN_ALREADY_REFUNDED"),
    refund("refund of a hold", "{hold}", "400"),
    refund("refund with malformed options", "{payment}", "400 GEN_MALFORMED_REQUEST", b"{nope"),
    refund("refund with array options", "{payment}", f"400 {V}", b"[]"),
    refund("refund overdraft is text", "{payment}", f"400 {V}", {"allow_overdraft": "x"}),
]

G, GL, META = "400 GEN_VALIDATION_ERROR", "general_ledger_id", "POST /{payment}/metadata"
IDT, BAD = "400 IDT_VALIDATION_ERROR", "400 GEN_BAD_REQUEST"


def balance(**fields: Any) -> Callable[[Scene], dict[str, Any]]:
    """A balance request in the scene's ledger, with ``fields``."""
    return lambda s: {"ledger_id": s.ledger, **fields}


ACCOUNT_CASES = [
    Case("ledger without a name", "POST /ledgers", {}, G),
    Case("ledger name is a number", "POST /ledgers", {"name": 5}, G),
    Case("ledger meta_data is a list", "POST /ledgers", {"name": "x", "meta_data": [1]}, G),
    Case("ledger malformed", "POST /ledgers", b"{", "400 GEN_MALFORMED_REQUEST"),
    Case("unknown ledger", "GET /ledgers/ldg_unknown", None, "404 LGR_NOT_FOUND"),
    Case("rename unknown ledger", "PUT /ledgers/ldg_unknown", {"name": "x"}, "404 LGR_NOT_FOUND"),
    Case("rename to nothing", "PUT /ledgers/{ledger}", {}, G),
    Case("balance without anything", "POST /balances", {}, G),
    Case("balance without currency", "POST /balances", balance(), G),
    Case(
        "balance in unknown ledger",
        "POST /balances",
        {"ledger_id": "ldg_x", "currency": "USD"},
        BAD,
    ),
    Case(
        "indicator outside the general ledger",
        "POST /balances",
        balance(currency="USD", indicator="@x"),
        G,
    ),
    Case(
        "indicator with a space",
        "POST /balances",
        {"ledger_id": GL, "currency": "USD", "indicator": "@a b"},
        G,
    ),
    Case(
        "second @World in USD",
        "POST /balances",
        {"ledger_id": GL, "currency": "USD", "indicator": "@World"},
        "409 GEN_CONFLICT",
    ),
    Case(
        "balance for unknown identity",
        "POST /balances",
        balance(currency="USD", identity_id="idt_x"),
        BAD,
    ),
    Case(
        "balance overdraft is text",
        "POST /balances",
        balance(currency="USD", allow_overdraft="x"),
        G,
    ),
    Case("unknown balance", "GET /balances/bln_unknown", None, "404 BAL_NOT_FOUND"),
    Case(
        "unknown indicator", "GET /balances/indicator/@Nope/currency/USD", None, "404 BAL_NOT_FOUND"
    ),
    Case(
        "link unknown balance",
        "PUT /balances/bln_x/identity",
        lambda s: {"identity_id": s.identity},
        "404 BAL_NOT_FOUND",
    ),
    Case(
        "link unknown identity",
        "PUT /balances/{bob}/identity",
        {"identity_id": "idt_x"},
        "404 IDT_NOT_FOUND",
    ),
    Case("link nothing", "PUT /balances/{bob}/identity", {}, G),
    Case("overdraft flag missing", "PUT /balances/{bob}/overdraft", {}, G),
    Case(
        "overdraft of unknown balance",
        "PUT /balances/bln_x/overdraft",
        {"allow_overdraft": True},
        "404 BAL_NOT_FOUND",
    ),
    Case(
        "history at a bad time",
        "GET /balances/{alice}/at?timestamp=today",
        None,
        "400 BAL_INVALID_TIMESTAMP",
    ),
    Case("history of unknown balance", "GET /balances/bln_unknown/at", None, "404 BAL_NOT_FOUND"),
    Case("identity id without prefix", "POST /identities", {"identity_id": "alice"}, IDT),
    Case("identity born on a bad day", "POST /identities", {"dob": "someday"}, IDT),
    Case("identity created twice", "POST /identities", lambda s: {"identity_id": s.identity}, IDT),
    Case("unknown identity", "GET /identities/idt_unknown", None, "404 IDT_NOT_FOUND"),
    Case(
        "update unknown identity", "PUT /identities/idt_x", {"first_name": "x"}, "404 IDT_NOT_FOUND"
    ),
    Case("update with a bad birthday", "PUT /identities/{identity}", {"dob": "never"}, IDT),
    Case("delete unknown identity", "DELETE /identities/idt_unknown", None, "404 IDT_NOT_FOUND"),
    Case("delete an identity in use", "DELETE /identities/{identity}", None, "409 GEN_CONFLICT"),
    Case(
        "metadata of a stranger",
        "POST /zzz_1/metadata",
        {"meta_data": {"a": 1}},
        "400 META_INVALID_ENTITY_ID",
    ),
    Case(
        "metadata of unknown transaction",
        "POST /txn_x/metadata",
        {"meta_data": {}},
        "404 META_ENTITY_NOT_FOUND",
    ),
    Case("metadata missing", META, {}, G),
    Case("metadata is a number", META, {"meta_data": 5}, G),
    Case("metadata malformed", META, b"{", "400 GEN_MALFORMED_REQUEST"),
    Case(
        "filter on an unknown field",
        "POST /transactions/filter",
        {"filters": [{"field": "nope", "operator": "eq", "value": "x"}]},
        BAD,
    ),
    Case("list by an unknown field", "GET /transactions?nope_eq=1", None, BAD),
]


async def test_bad_transactions_change_nothing(client: Client, db: Database, scene: Scene) -> None:
    await check_cases(client, db, scene, TRANSACTION_CASES)


async def test_bad_commits_and_voids_change_nothing(
    client: Client, db: Database, scene: Scene
) -> None:
    await check_cases(client, db, scene, SETTLE_CASES)


async def test_bad_bulks_and_refunds_change_nothing(
    client: Client, db: Database, scene: Scene
) -> None:
    await check_cases(client, db, scene, BULK_AND_REFUND_CASES)


async def test_bad_ledgers_balances_identities_and_metadata_change_nothing(
    client: Client, db: Database, scene: Scene
) -> None:
    await check_cases(client, db, scene, ACCOUNT_CASES)


async def test_a_filter_on_an_unknown_id_finds_nothing(client: Client, scene: Scene) -> None:
    for path, field in (("/transactions/filter", "balance_id"), ("/balances/filter", "ledger_id")):
        body = {"filters": [{"field": field, "operator": "eq", "value": "bln_unknown"}]}
        response = await client.post(path, json=body)
        assert response.status_code == 200 and response.json() == [], response.text


@pytest.fixture
async def small_client(app_settings: Settings) -> AsyncIterator[Client]:
    """The full app with a 2 KiB body limit."""
    app = create_app(Services.build(app_settings.with_overrides(max_body_bytes=2048)))
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:5001") as test_client:
        yield test_client


async def test_an_oversize_body_is_refused_before_it_is_read(
    small_client: Client, db: Database
) -> None:
    ledger = (await created(small_client, "/ledgers", {"name": "Small"}))["ledger_id"]
    bob = await created(small_client, "/balances", {"ledger_id": ledger, "currency": "USD"})
    before = await _row_counts(db)
    body = {
        "amount": 1,
        "currency": "USD",
        "reference": "big",
        "source": "@World",
        "destination": bob["balance_id"],
        "description": "x" * 4096,
    }
    response = await small_client.post("/transactions", json=body)
    assert response.status_code == 413
    assert response.json()["error_detail"]["code"] == "GEN_PAYLOAD_TOO_LARGE"
    assert response.json()["error"] == response.json()["error_detail"]["message"]
    assert await _row_counts(db) == before
    assert (await small_client.get("/transactions/reference/big")).status_code == 404


async def _row_counts(db: Database) -> list[int]:
    async with db.read() as conn:
        return [
            (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
            for table in (t.balances, t.transactions, t.events)
        ]
