"""Raw HTTP against a real server, for what the SDKs refuse to send (they validate locally).

Every bad request gets a 4xx with Blnk's envelope ``{"error", "error_detail": {code, message}}``
and changes nothing: both balances keep their amounts and version, and the request's reference
was never used. The awkward-but-valid requests the SDKs do send (an empty body on a refund,
``content-type: application/json`` on a GET) are accepted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .raw_cases import BAD, Pair, transaction

LIMIT = 5 * 1024 * 1024
BIG = 123456789012345678901


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        yield client


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


@pytest.fixture
def pair(http: httpx.Client, unique: str) -> Pair:
    ledger_id = _created(http.post("/ledgers", json={"name": f"raw {unique}"}))["ledger_id"]
    source, destination = (
        _created(http.post("/balances", json={"ledger_id": ledger_id, "currency": "USD"}))[
            "balance_id"
        ]
        for _ in range(2)
    )
    _created(
        http.post(
            "/transactions",
            json={
                "amount": 100,
                "precision": 100,
                "currency": "USD",
                "reference": f"fund-{unique}",
                "description": "funding",
                "source": "@World",
                "destination": source,
                "allow_overdraft": True,
                "skip_queue": True,
            },
        )
    )
    return Pair(ledger_id, source, destination)


def state(http: httpx.Client, pair: Pair) -> list[dict[str, Any]]:
    found = []
    for balance_id in (pair.source, pair.destination):
        response = http.get(f"/balances/{balance_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        found.append({k: v for k, v in body.items() if k not in ("meta_data",)})
    return found


def assert_envelope(response: httpx.Response, status: int, *codes: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    detail = body["error_detail"]
    assert isinstance(body["error"], str) and body["error"], body
    assert detail["message"] == body["error"], body
    if codes:
        assert detail["code"] in codes, body
    return body


def assert_reference_unused(http: httpx.Client, reference: str) -> None:
    response = http.get(f"/transactions/reference/{reference}")
    assert_envelope(response, 404, "TXN_NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path", "build", "status", "codes"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD],
)
def test_bad_request_gets_an_envelope_and_changes_nothing(
    http: httpx.Client,
    pair: Pair,
    unique: str,
    method: str,
    path: str,
    build: Any,
    status: int,
    codes: tuple[str, ...],
) -> None:
    reference = f"bad-{unique}"
    before = state(http, pair)
    url = path.format(source=pair.source, ledger=pair.ledger_id)
    body = build(pair, reference) if build is not None else None
    headers = {"content-type": "application/json"}
    content = (
        body if isinstance(body, bytes) else (None if body is None else json.dumps(body).encode())
    )
    response = http.request(method, url, content=content, headers=headers)
    assert_envelope(response, status, *codes)
    assert state(http, pair) == before
    assert_reference_unused(http, reference)
    assert_reference_unused(http, reference + "-ok")


def test_duplicate_reference_is_409_and_keeps_the_first(
    http: httpx.Client, pair: Pair, unique: str
) -> None:
    first = _created(http.post("/transactions", json=transaction(pair, f"dup-{unique}")))
    before = state(http, pair)
    again = http.post("/transactions", json=transaction(pair, f"dup-{unique}", amount=20))
    assert_envelope(again, 409, "TXN_DUPLICATE_REFERENCE")
    assert state(http, pair) == before
    found = http.get(f"/transactions/reference/dup-{unique}").json()
    assert (found["transaction_id"], found["precise_amount"]) == (first["transaction_id"], 1000)


def test_oversize_body_is_413(http: httpx.Client, pair: Pair, unique: str) -> None:
    before = state(http, pair)
    body = transaction(pair, f"huge-{unique}", description="x" * (LIMIT + 10))
    response = http.post(
        "/transactions",
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    assert_envelope(response, 413, "GEN_PAYLOAD_TOO_LARGE")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts as it reads
        payload = json.dumps(body).encode()
        for start in range(0, len(payload), 256 * 1024):
            yield payload[start : start + 256 * 1024]

    chunked = http.post(
        "/transactions", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_envelope(chunked, 413, "GEN_PAYLOAD_TOO_LARGE")
    assert state(http, pair) == before
    assert_reference_unused(http, f"huge-{unique}")


def test_huge_precise_amounts_are_exact(http: httpx.Client, pair: Pair, unique: str) -> None:
    as_number = http.post(
        "/transactions",
        content=(
            '{"precise_amount": 123456789012345678901, "precision": 100, "currency": "USD", '
            f'"reference": "big-{unique}", "description": "big", "source": "@World", '
            f'"destination": "{pair.destination}", "allow_overdraft": true}}'
        ).encode(),
        headers={"content-type": "application/json"},
    )
    assert as_number.status_code == 201, as_number.text
    assert '"precise_amount":123456789012345678901' in as_number.text.replace(" ", "")
    created = as_number.json()
    assert created["precise_amount"] == BIG
    assert created["amount_string"] == "1234567890123456789.01"
    fetched = http.get(f"/transactions/{created['transaction_id']}").json()
    assert fetched["precise_amount"] == BIG

    as_string = _created(
        http.post(
            "/transactions",
            json={
                "precise_amount": str(BIG),
                "precision": 100,
                "currency": "USD",
                "reference": f"big-str-{unique}",
                "description": "big",
                "source": "@World",
                "destination": pair.destination,
                "allow_overdraft": True,
            },
        )
    )
    assert as_string["precise_amount"] == BIG
    destination = http.get(f"/balances/{pair.destination}").json()
    assert destination["balance"] == 2 * BIG
    assert destination["credit_balance"] == 2 * BIG


def test_what_the_sdks_send_is_accepted(http: httpx.Client, pair: Pair, unique: str) -> None:
    """Both SDKs put ``content-type: application/json`` on every request and send no body on a
    bare refund."""
    json_header = {"content-type": "application/json"}
    paid = _created(http.post("/transactions", json=transaction(pair, f"sdk-{unique}")))
    for path in (
        f"/balances/{pair.source}",
        f"/transactions/{paid['transaction_id']}",
        f"/ledgers/{pair.ledger_id}",
        f"/transactions/reference/sdk-{unique}",
    ):
        response = http.get(path, headers=json_header)
        assert response.status_code == 200, (path, response.text)
    refund = http.post(f"/refund-transaction/{paid['transaction_id']}", headers=json_header)
    assert refund.status_code == 201, refund.text
    assert refund.json()["parent_transaction"] == paid["transaction_id"]
    balances = state(http, pair)
    assert (balances[0]["balance"], balances[1]["balance"]) == (10000, 0)
