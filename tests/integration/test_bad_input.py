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


@dataclass
class Case:
    name: str
    method: str
    path: str  # formatted with the scene's fields
    body: Any = None  # a JSON value, raw bytes, or a function of the scene
    status: int = 400
    code: str | None = None  # None: any code (asserted only as present)
    legacy: bool = True  # Blnk's `errors` key on validation errors


async def created(client: Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def pay(client: Client, reference: str, source: str, dest: str, **extra: Any) -> str:
    body = {"amount": extra.pop("amount", 5), "precision": 100, "currency": "USD",
            "reference": reference, "source": source, "destination": dest, **extra}
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
    await pay(client, "deposit", "@World", alice, amount=100, allow_overdraft=True)
    world = (await client.get("/balances/indicator/@World/currency/USD")).json()["balance_id"]
    hold = await pay(client, "held", alice, bob, amount=10, inflight=True)
    voided = await pay(client, "released", alice, bob, amount=2, inflight=True)
    assert (await client.put(f"/transactions/inflight/{voided}", json={"status": "void"})).is_success
    payment = await pay(client, "paid", alice, bob)
    refunded = await pay(client, "returned", alice, bob, amount=1)
    refund = (await created(client, f"/refund-transaction/{refunded}", {}))["transaction_id"]
    return Scene(ledger, identity, alice, bob, euros, world, hold, voided, payment, refunded, refund)


async def snapshot(client: Client, db: Database, scene: Scene) -> dict[str, Any]:
    """Everything a bad request could have touched."""
    views = {}
    for path in (
        *(f"/balances/{b}" for b in (scene.alice, scene.bob, scene.euros, scene.world)),
        f"/ledgers/{scene.ledger}", f"/identities/{scene.identity}",
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
    if case.legacy and case.status == 400 and body.get("errors") != body.get("error"):
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
    """A USD 1.00 payment from alice to bob, with ``changes`` (callables get the scene)."""

    def build(s: Scene) -> dict[str, Any]:
        body: dict[str, Any] = {"amount": 1, "precision": 100, "currency": "USD",
                                "reference": "bad", "source": s.alice, "destination": s.bob}
        for key, value in changes.items():
            if value is ...:
                body.pop(key, None)
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


V, TX = "TXN_VALIDATION_ERROR", "/transactions"
TRANSACTION_CASES = [
    Case("amount is text", "POST", TX, txn(amount="abc"), code=V),
    Case("currency is a number", "POST", TX, txn(currency=5), code=V),
    Case("inflight is text", "POST", TX, txn(inflight="maybe"), code=V),
    Case("meta_data is a list", "POST", TX, txn(meta_data=[1]), code=V),
    Case("destinations is text", "POST", TX, txn(destination=..., destinations="x"), code=V),
    Case("no currency", "POST", TX, txn(currency=...), code=V),
    Case("blank reference", "POST", TX, txn(reference=" "), code=V),
    Case("no source", "POST", TX, txn(source=...), code=V),
    Case("no destination", "POST", TX, txn(destination=...), code=V),
    Case("no amount", "POST", TX, txn(amount=...), code=V),
    Case("unknown destination", "POST", TX, txn(destination="bln_unknown"), 404, "BAL_NOT_FOUND"),
    Case("unknown source", "POST", TX, txn(source="bln_unknown"), 404, "BAL_NOT_FOUND"),
    Case("amount 1e300", "POST", TX, txn(amount=1e300, source="@World"), code="TXN_INVALID_AMOUNT"),
    Case("precise_amount of 39 digits", "POST", TX,
         txn(amount=..., precise_amount=10**38, source="@World"), code="TXN_INVALID_AMOUNT"),
    Case("precise_amount of 5000 digits", "POST", TX, raw(precise_amount="9" * 5000)),
    Case("amount beyond a double", "POST", TX, raw(amount="1e400")),
    Case("overdraft limit 1e300", "POST", TX, txn(overdraft_limit=1e300), code="TXN_INVALID_AMOUNT"),
    Case("precision 1e19", "POST", TX, txn(precision=1e19), code="TXN_PRECISION_NOT_INTEGER"),
    Case("negative amount", "POST", TX, txn(amount=-1), code="TXN_INVALID_AMOUNT"),
    Case("zero amount", "POST", TX, txn(amount=0), code=V),
    Case("negative precise_amount", "POST", TX, txn(amount=..., precise_amount=-5),
         code="TXN_INVALID_AMOUNT"),
    Case("zero precise_amount text", "POST", TX, txn(amount=..., precise_amount="0"),
         code="TXN_INVALID_AMOUNT"),
    Case("precise_amount --5", "POST", TX, txn(amount=..., precise_amount="--5"),
         code="TXN_INVALID_AMOUNT"),
    Case("both amounts", "POST", TX, txn(precise_amount=100), code=V),
    Case("precision 2.5", "POST", TX, txn(precision=2.5), code="TXN_PRECISION_NOT_INTEGER"),
    Case("negative precision", "POST", TX, txn(precision=-100), code="TXN_PRECISION_NOT_INTEGER"),
    Case("finer than a cent", "POST", TX, txn(amount=1.005), code="TXN_INVALID_AMOUNT"),
    Case("16 significant digits", "POST", TX, txn(amount=1234567890.123456),
         code="TXN_INVALID_AMOUNT"),
    Case("dollars into euros", "POST", TX, txn(destination=lambda s: s.euros),
         code="TXN_CURRENCY_MISMATCH"),
    Case("euros out of dollars", "POST", TX, txn(currency="EUR"), code="TXN_CURRENCY_MISMATCH"),
    Case("duplicate reference", "POST", TX, txn(reference="paid"), 409, "TXN_DUPLICATE_REFERENCE"),
    Case("paying yourself", "POST", TX, txn(destination=lambda s: s.alice), code=V),
    Case("world paying itself", "POST", TX,
         txn(source="@World", destination=lambda s: s.world), code=V),
    Case("effective date in words", "POST", TX, txn(effective_date="yesterday"), code=V),
    Case("30 February", "POST", TX, txn(effective_date="2026-02-30T00:00:00Z"), code=V),
    Case("date without zone", "POST", TX, txn(effective_date="2026-03-01T00:00:00"), code=V),
    Case("date beyond year 9999", "POST", TX,
         txn(effective_date="9999-12-31T23:59:59-01:00"), code=V),
    Case("scheduled in words", "POST", TX, txn(scheduled_for="soon"), code=V),
    Case("expiry in the past", "POST", TX,
         txn(inflight=True, inflight_expiry_date="2000-01-01T00:00:00Z"), code=V),
    Case("expiry without a hold", "POST", TX,
         txn(inflight_expiry_date="2999-01-01T00:00:00Z"), code=V),
    Case("not enough money", "POST", TX, txn(amount=1000, source=lambda s: s.bob,
                                             destination=lambda s: s.alice),
         code="TXN_INSUFFICIENT_FUNDS", legacy=False),
    Case("past the overdraft limit", "POST", TX, txn(amount=500, overdraft_limit=100),
         code="TXN_INSUFFICIENT_FUNDS", legacy=False),
    Case("split over 100%", "POST", TX, txn(destination=..., destinations=lambda s: [
        {"identifier": s.bob, "distribution": "60%"},
        {"identifier": s.euros, "distribution": "60%"}]), code="TXN_INVALID_DISTRIBUTION"),
    Case("split with an unknown leg", "POST", TX, txn(destination=..., destinations=lambda s: [
        {"identifier": s.bob, "distribution": "50%"},
        {"identifier": "bln_unknown", "distribution": "left"}]), 404, "BAL_NOT_FOUND"),
    Case("split with a euro leg", "POST", TX, txn(destination=..., destinations=lambda s: [
        {"identifier": s.bob, "distribution": "50%"},
        {"identifier": s.euros, "distribution": "left"}]), code="TXN_CURRENCY_MISMATCH"),
    Case("reference of 513 characters", "POST", TX, txn(reference="r" * 513), code=V),
    Case("indicator with a space", "POST", TX, txn(source="@ World"), code=V),
    Case("malformed JSON", "POST", TX, b'{"amount": 1,', code="GEN_MALFORMED_REQUEST"),
    Case("NaN in JSON", "POST", TX, b'{"amount": NaN}', code="GEN_MALFORMED_REQUEST"),
    Case("empty body", "POST", TX, b"", code=V),
    Case("array body", "POST", TX, b"[]", code=V),
    Case("string body", "POST", TX, b'"pay"', code=V),
    Case("number body", "POST", TX, b"42", code=V),
    Case("null body", "POST", TX, b"null", code=V),
    Case("unknown id", "GET", "/transactions/txn_unknown", status=404, code="TXN_NOT_FOUND"),
    Case("unknown reference", "GET", "/transactions/reference/nope", status=404,
         code="TXN_NOT_FOUND"),
]

INFLIGHT = "/transactions/inflight/{hold}"
SETTLE_CASES = [
    Case("unknown hold", "PUT", "/transactions/inflight/txn_unknown", {"status": "commit"}, 404,
         "TXN_NOT_FOUND"),
    Case("approve is not an action", "PUT", INFLIGHT, {"status": "approve"},
         code="TXN_INVALID_STATUS_ACTION"),
    Case("no action", "PUT", INFLIGHT, {}, code="TXN_INVALID_STATUS_ACTION"),
    Case("negative commit", "PUT", INFLIGHT, {"status": "commit", "amount": -5},
         code="TXN_INVALID_AMOUNT"),
    Case("zero precise commit", "PUT", INFLIGHT, {"status": "commit", "precise_amount": "0"},
         code="TXN_INVALID_AMOUNT"),
    Case("huge commit", "PUT", INFLIGHT, {"status": "commit", "precise_amount": 10**38},
         code="TXN_INVALID_AMOUNT"),
    Case("commit finer than a cent", "PUT", INFLIGHT, {"status": "commit", "amount": 1.005},
         code="TXN_INVALID_AMOUNT"),
    Case("commit more than held", "PUT", INFLIGHT, {"status": "commit", "amount": 20},
         code="TXN_COMMIT_AMOUNT_EXCEEDED", legacy=False),
    Case("commit a payment", "PUT", "/transactions/inflight/{payment}", {"status": "commit"},
         code="TXN_NOT_INFLIGHT", legacy=False),
    Case("commit a voided hold", "PUT", "/transactions/inflight/{voided}", {"status": "commit"},
         409, "TXN_ALREADY_VOIDED"),
    Case("void a voided hold", "PUT", "/transactions/inflight/{voided}", {"status": "void"},
         409, "TXN_ALREADY_VOIDED"),
    Case("commit amount is text", "PUT", INFLIGHT, {"status": "commit", "amount": "abc"}, code=V),
    Case("malformed JSON", "PUT", INFLIGHT, b'{"status": ', code="GEN_MALFORMED_REQUEST"),
    Case("array body", "PUT", INFLIGHT, b"[]", code=V),
    Case("bulk commit of nothing", "POST", "/transactions/inflight/bulk/commit",
         {"transactions": []}, code="TXN_BULK_EMPTY"),
    Case("bulk commit of 101", "POST", "/transactions/inflight/bulk/commit",
         lambda s: {"transactions": [{"transaction_id": s.hold}] * 101},
         code="TXN_BULK_LIMIT_EXCEEDED"),
    Case("bulk commit without ids", "POST", "/transactions/inflight/bulk/commit",
         {"transactions": [{}]}, code=V),
    Case("bulk void of nothing", "POST", "/transactions/inflight/bulk/void",
         {"transaction_ids": []}, code="TXN_BULK_EMPTY"),
    Case("bulk void of 101", "POST", "/transactions/inflight/bulk/void",
         lambda s: {"transaction_ids": [s.hold] * 101}, code="TXN_BULK_LIMIT_EXCEEDED"),
    Case("bulk void without the list", "POST", "/transactions/inflight/bulk/void", {}, code=V),
]

BULK, REFUND = "/transactions/bulk", "/refund-transaction/"
BULK_AND_REFUND_CASES = [
    Case("empty bulk", "POST", BULK, {"transactions": []}, code="TXN_BULK_EMPTY"),
    Case("bulk without a list", "POST", BULK, {}, code="TXN_BULK_EMPTY"),
    Case("bulk of 10001", "POST", BULK, {"transactions": [{}] * 10_001},
         code="TXN_BULK_LIMIT_EXCEEDED"),
    Case("bulk list is text", "POST", BULK, {"transactions": "x"}, code=V),
    Case("bulk with an invalid item", "POST", BULK, lambda s: {"transactions": [
        txn(reference="bulk-ok")(s), txn(reference="bulk-bad", currency=...)(s)]}, code=V),
    Case("atomic bulk with a failing item", "POST", BULK, lambda s: {"atomic": True, "transactions": [
        txn(reference="atomic-ok")(s),
        txn(reference="atomic-broke", amount=1000, source=s.bob, destination=s.alice)(s)]},
        code="TXN_INSUFFICIENT_FUNDS", legacy=False),
    Case("atomic bulk with a duplicate", "POST", BULK, lambda s: {"atomic": True, "transactions": [
        txn(reference="atomic-ok")(s), txn(reference="atomic-ok")(s)]},
        409, "TXN_DUPLICATE_REFERENCE"),
    Case("refund of nothing", "POST", REFUND + "txn_unknown", None, 404, "TXN_NOT_FOUND"),
    Case("refund of a refund", "POST", REFUND + "{refund}", None, code="TXN_NOT_REFUNDABLE"),
    Case("second refund", "POST", REFUND + "{refunded}", None, 409, "TXN_ALREADY_REFUNDED"),
    Case("refund of a hold", "POST", REFUND + "{hold}", None, legacy=False),
    Case("refund with malformed options", "POST", REFUND + "{payment}", b"{nope",
         code="GEN_MALFORMED_REQUEST"),
    Case("refund with array options", "POST", REFUND + "{payment}", b"[]", code=V),
    Case("refund overdraft is text", "POST", REFUND + "{payment}", {"allow_overdraft": "x"},
         code=V),
]

G = "GEN_VALIDATION_ERROR"
ACCOUNT_CASES = [
    Case("ledger without a name", "POST", "/ledgers", {}, code=G),
    Case("ledger name is a number", "POST", "/ledgers", {"name": 5}, code=G),
    Case("ledger meta_data is a list", "POST", "/ledgers", {"name": "x", "meta_data": [1]}, code=G),
    Case("ledger malformed", "POST", "/ledgers", b"{", code="GEN_MALFORMED_REQUEST"),
    Case("unknown ledger", "GET", "/ledgers/ldg_unknown", status=404, code="LGR_NOT_FOUND"),
    Case("rename unknown ledger", "PUT", "/ledgers/ldg_unknown", {"name": "x"}, 404,
         "LGR_NOT_FOUND"),
    Case("rename to nothing", "PUT", "/ledgers/{ledger}", {}, code=G),
    Case("balance without anything", "POST", "/balances", {}, code=G),
    Case("balance without currency", "POST", "/balances", lambda s: {"ledger_id": s.ledger}, code=G),
    Case("balance in unknown ledger", "POST", "/balances",
         {"ledger_id": "ldg_unknown", "currency": "USD"}, code="GEN_BAD_REQUEST"),
    Case("indicator outside the general ledger", "POST", "/balances",
         lambda s: {"ledger_id": s.ledger, "currency": "USD", "indicator": "@x"}, code=G),
    Case("indicator with a space", "POST", "/balances",
         {"ledger_id": "general_ledger_id", "currency": "USD", "indicator": "@a b"}, code=G),
    Case("second @World in USD", "POST", "/balances",
         {"ledger_id": "general_ledger_id", "currency": "USD", "indicator": "@World"}, 409,
         "GEN_CONFLICT"),
    Case("balance for unknown identity", "POST", "/balances",
         lambda s: {"ledger_id": s.ledger, "currency": "USD", "identity_id": "idt_unknown"},
         code="GEN_BAD_REQUEST"),
    Case("balance overdraft is text", "POST", "/balances",
         lambda s: {"ledger_id": s.ledger, "currency": "USD", "allow_overdraft": "x"}, code=G),
    Case("unknown balance", "GET", "/balances/bln_unknown", status=404, code="BAL_NOT_FOUND"),
    Case("unknown indicator", "GET", "/balances/indicator/@Nope/currency/USD", status=404,
         code="BAL_NOT_FOUND"),
    Case("link unknown balance", "PUT", "/balances/bln_unknown/identity",
         lambda s: {"identity_id": s.identity}, 404, "BAL_NOT_FOUND"),
    Case("link unknown identity", "PUT", "/balances/{bob}/identity",
         {"identity_id": "idt_unknown"}, 404, "IDT_NOT_FOUND"),
    Case("link nothing", "PUT", "/balances/{bob}/identity", {}, code=G),
    Case("overdraft flag missing", "PUT", "/balances/{bob}/overdraft", {}, code=G),
    Case("overdraft of unknown balance", "PUT", "/balances/bln_unknown/overdraft",
         {"allow_overdraft": True}, 404, "BAL_NOT_FOUND"),
    Case("history at a bad time", "GET", "/balances/{alice}/at?timestamp=yesterday",
         code="BAL_INVALID_TIMESTAMP"),
    Case("history of unknown balance", "GET", "/balances/bln_unknown/at", status=404,
         code="BAL_NOT_FOUND"),
    Case("identity id without prefix", "POST", "/identities", {"identity_id": "alice"},
         code="IDT_VALIDATION_ERROR"),
    Case("identity born on a bad day", "POST", "/identities", {"dob": "someday"},
         code="IDT_VALIDATION_ERROR"),
    Case("identity created twice", "POST", "/identities", lambda s: {"identity_id": s.identity},
         code="IDT_VALIDATION_ERROR"),
    Case("unknown identity", "GET", "/identities/idt_unknown", status=404, code="IDT_NOT_FOUND"),
    Case("update unknown identity", "PUT", "/identities/idt_unknown", {"first_name": "x"}, 404,
         "IDT_NOT_FOUND"),
    Case("update with a bad birthday", "PUT", "/identities/{identity}", {"dob": "never"},
         code="IDT_VALIDATION_ERROR"),
    Case("delete unknown identity", "DELETE", "/identities/idt_unknown", status=404,
         code="IDT_NOT_FOUND"),
    Case("delete an identity in use", "DELETE", "/identities/{identity}", status=409,
         code="GEN_CONFLICT"),
    Case("metadata of a stranger", "POST", "/zzz_1/metadata", {"meta_data": {"a": 1}},
         code="META_INVALID_ENTITY_ID"),
    Case("metadata of unknown transaction", "POST", "/txn_unknown/metadata",
         {"meta_data": {"a": 1}}, 404, "META_ENTITY_NOT_FOUND"),
    Case("metadata missing", "POST", "/{payment}/metadata", {}, code=G),
    Case("metadata is a number", "POST", "/{payment}/metadata", {"meta_data": 5}, code=G),
    Case("metadata malformed", "POST", "/{payment}/metadata", b"{", code="GEN_MALFORMED_REQUEST"),
    Case("filter on an unknown field", "POST", "/transactions/filter",
         {"filters": [{"field": "nope", "operator": "eq", "value": "x"}]}, code="GEN_BAD_REQUEST"),
    Case("list by an unknown field", "GET", "/transactions?nope_eq=1", code="GEN_BAD_REQUEST"),
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
    bob = (await created(small_client, "/balances", {"ledger_id": ledger, "currency": "USD"}))
    before = await _row_counts(db)
    body = {"amount": 1, "currency": "USD", "reference": "big", "source": "@World",
            "destination": bob["balance_id"], "description": "x" * 4096}
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
