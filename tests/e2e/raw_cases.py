"""Bad requests for ``test_raw_http``: what the SDKs would refuse to send, sent anyway.

Each case: (name, method, path, body builder, status, accepted ``error_detail.code`` values). A
builder takes the test's balances and a fresh reference and returns a JSON-able body or raw bytes;
``{source}`` and ``{ledger}`` in a path are filled in by the test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

UNKNOWN_BALANCE = "bln_00000000-0000-4000-8000-000000000000"
UNKNOWN_TXN = "txn_00000000-0000-4000-8000-000000000000"


@dataclass
class Pair:
    ledger_id: str
    source: str  # holds USD 100.00 (10000 minor units)
    destination: str  # empty, USD


def transaction(pair: Pair, ref: str, **changes: Any) -> dict[str, Any]:
    """A valid transfer of USD 10.00; ``changes`` replace fields (``...`` removes one)."""
    body: dict[str, Any] = {
        "amount": 10,
        "precision": 100,
        "currency": "USD",
        "reference": ref,
        "description": "raw",
        "source": pair.source,
        "destination": pair.destination,
    }
    for key, value in changes.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    return body


TXN = "TXN_VALIDATION_ERROR"
# (name, method, path, body builder, status, accepted codes). Bodies that are not JSON are bytes.
BAD: list[tuple[str, str, str, Any, int, tuple[str, ...]]] = [
    (
        "truncated JSON",
        "POST",
        "/transactions",
        lambda p, r: b'{"amount": 10,',
        400,
        ("GEN_MALFORMED_REQUEST",),
    ),
    (
        "not JSON at all",
        "POST",
        "/transactions",
        lambda p, r: b"amount=10&currency=USD",
        400,
        ("GEN_MALFORMED_REQUEST",),
    ),
    ("a JSON array", "POST", "/transactions", lambda p, r: b"[1, 2]", 400, (TXN,)),
    ("an empty body", "POST", "/transactions", lambda p, r: b"", 400, (TXN,)),
    (
        "amount is a string",
        "POST",
        "/transactions",
        lambda p, r: transaction(p, r, amount="ten"),
        400,
        (TXN,),
    ),
    (
        "precision is an object",
        "POST",
        "/transactions",
        lambda p, r: transaction(p, r, precision={"value": 100}),
        400,
        (TXN, "TXN_PRECISION_NOT_INTEGER"),
    ),
    (
        "meta_data is a string",
        "POST",
        "/transactions",
        lambda p, r: transaction(p, r, meta_data="x"),
        400,
        (TXN,),
    ),
    (
        "inflight is a string",
        "POST",
        "/transactions",
        lambda p, r: transaction(p, r, inflight="yes"),
        400,
        (TXN,),
    ),
    (
        "no currency",
        "POST",
        "/transactions",
        lambda p, r: transaction(p, r, currency=...),
        400,
        (TXN,),
    ),
    (
        "no reference",
        "POST",
        "/transactions",
        lambda p, r: transaction(p, r, reference=...),
        400,
        (TXN,),
    ),
    ("no amount", "POST", "/transactions", lambda p, r: transaction(p, r, amount=...), 400, (TXN,)),
    ("no source", "POST", "/transactions", lambda p, r: transaction(p, r, source=...), 400, (TXN,)),
    (
        "no destination",
        "POST",
        "/transactions",
        lambda p, r: transaction(p, r, destination=...),
        400,
        (TXN,),
    ),
    (
        "unknown destination",
        "POST",
        "/transactions",
        lambda p, r: transaction(p, r, destination=UNKNOWN_BALANCE),
        404,
        ("BAL_NOT_FOUND",),
    ),
    (
        "unknown source",
        "POST",
        "/transactions",
        lambda p, r: transaction(p, r, source=UNKNOWN_BALANCE),
        404,
        ("BAL_NOT_FOUND",),
    ),
    (
        "amount not exact at the precision",
        "POST",
        "/transactions",
        lambda p, r: transaction(p, r, amount=1.005),
        400,
        ("TXN_INVALID_AMOUNT", TXN),
    ),
    (
        "transaction currency differs from the balances'",
        "POST",
        "/transactions",
        lambda p, r: transaction(p, r, currency="EUR"),
        400,
        ("TXN_CURRENCY_MISMATCH",),
    ),
    (
        "negative amount",
        "POST",
        "/transactions",
        lambda p, r: transaction(p, r, amount=-5),
        400,
        ("TXN_INVALID_AMOUNT", TXN),
    ),
    (
        "zero amount",
        "POST",
        "/transactions",
        lambda p, r: transaction(p, r, amount=0),
        400,
        ("TXN_INVALID_AMOUNT", TXN),
    ),
    (
        "amount and precise_amount",
        "POST",
        "/transactions",
        lambda p, r: transaction(p, r, precise_amount=1000),
        400,
        (TXN,),
    ),
    (
        "fractional precision",
        "POST",
        "/transactions",
        lambda p, r: transaction(p, r, precision=2.5),
        400,
        ("TXN_PRECISION_NOT_INTEGER",),
    ),
    (
        "more than the source holds",
        "POST",
        "/transactions",
        lambda p, r: transaction(p, r, amount=100.01),
        400,
        ("TXN_INSUFFICIENT_FUNDS",),
    ),
    (
        "source is the destination",
        "POST",
        "/transactions",
        lambda p, r: transaction(p, r, destination=p.source),
        400,
        (TXN,),
    ),
    (
        "distribution over 100%",
        "POST",
        "/transactions",
        lambda p, r: transaction(
            p,
            r,
            destination=...,
            destinations=[
                {"identifier": p.destination, "distribution": "60%"},
                {"identifier": "@Fees", "distribution": "60%"},
            ],
        ),
        400,
        ("TXN_INVALID_DISTRIBUTION", TXN),
    ),
    (
        "atomic bulk with one bad item",
        "POST",
        "/transactions/bulk",
        lambda p, r: {
            "atomic": True,
            "skip_queue": True,
            "transactions": [transaction(p, r + "-ok"), transaction(p, r, currency="EUR")],
        },
        400,
        ("TXN_CURRENCY_MISMATCH", TXN),
    ),
    (
        "empty bulk",
        "POST",
        "/transactions/bulk",
        lambda p, r: {"transactions": []},
        400,
        ("TXN_BULK_EMPTY",),
    ),
    (
        "commit of an unknown hold",
        "PUT",
        f"/transactions/inflight/{UNKNOWN_TXN}",
        lambda p, r: {"status": "commit"},
        404,
        ("TXN_NOT_FOUND",),
    ),
    (
        "an unknown inflight action",
        "PUT",
        f"/transactions/inflight/{UNKNOWN_TXN}",
        lambda p, r: {"status": "settle"},
        400,
        ("TXN_INVALID_STATUS_ACTION",),
    ),
    (
        "refund of an unknown transaction",
        "POST",
        f"/refund-transaction/{UNKNOWN_TXN}",
        lambda p, r: b"",
        404,
        ("TXN_NOT_FOUND",),
    ),
    (
        "refund with a malformed body",
        "POST",
        f"/refund-transaction/{UNKNOWN_TXN}",
        lambda p, r: b"{bad",
        400,
        ("GEN_MALFORMED_REQUEST",),
    ),
    (
        "ledger name is a number",
        "POST",
        "/ledgers",
        lambda p, r: {"name": 5},
        400,
        ("GEN_VALIDATION_ERROR",),
    ),
    (
        "balance in an unknown ledger",
        "POST",
        "/balances",
        lambda p, r: {"ledger_id": "ldg_00000000-0000-4000-8000-000000000000", "currency": "USD"},
        400,
        ("GEN_BAD_REQUEST", "GEN_VALIDATION_ERROR"),
    ),
    (
        "balance without a currency",
        "POST",
        "/balances",
        lambda p, r: {"ledger_id": p.ledger_id},
        400,
        ("GEN_VALIDATION_ERROR",),
    ),
    (
        "metadata that is not an object",
        "POST",
        "/{source}/metadata",
        lambda p, r: {"meta_data": "x"},
        400,
        (),
    ),
    (
        "metadata on an unknown id",
        "POST",
        f"/{UNKNOWN_BALANCE}/metadata",
        lambda p, r: {"meta_data": {"x": 1}},
        404,
        (),
    ),
    (
        "a timestamp that is not RFC 3339",
        "GET",
        "/balances/{source}/at?timestamp=yesterday",
        None,
        400,
        ("BAL_INVALID_TIMESTAMP",),
    ),
    (
        "an unknown ledger",
        "GET",
        "/ledgers/ldg_00000000-0000-4000-8000-000000000000",
        None,
        404,
        ("LGR_NOT_FOUND",),
    ),
    ("an unknown route", "GET", "/no-such-thing", None, 404, ("GEN_NOT_FOUND",)),
    ("a method the route does not have", "DELETE", "/ledgers/{ledger}", None, 405, ()),
]
