"""Helpers for driving Tally with Blnk's official Python SDK (blnk-python 1.6.0).

The SDK never raises: every call returns ``ApiResponse(status, message, data, error)``. These
helpers assert the status and return ``data``, so a failing call shows what the server said.
"""

from __future__ import annotations

import re
from typing import Any

from blnk_sdk import ApiResponse, Blnk, BlnkClientOptions, blnk_init

ZERO_TIME = "0001-01-01T00:00:00Z"
HASH = re.compile(r"^[0-9a-f]{64}$")
LEDGER_FIELDS = {"ledger_id", "name", "created_at", "meta_data"}
BALANCE_AMOUNTS = (
    "balance",
    "inflight_balance",
    "credit_balance",
    "inflight_credit_balance",
    "debit_balance",
    "inflight_debit_balance",
)
BALANCE_FIELDS = {
    *BALANCE_AMOUNTS,
    "version",
    "ledger_id",
    "identity_id",
    "balance_id",
    "indicator",
    "currency",
    "created_at",
    "inflight_expires_at",
    "meta_data",
}
TRANSACTION_FIELDS = {
    "transaction_id",
    "parent_transaction",
    "amount",
    "precision",
    "precise_amount",
    "reference",
    "description",
    "currency",
    "status",
    "hash",
    "source",
    "destination",
    "allow_overdraft",
    "inflight",
    "created_at",
    "scheduled_for",
    "inflight_expiry_date",
    "inflight_commit_date",
    "effective_date",
    "meta_data",
}


class QuietLogger:
    """Collects the SDK's log lines instead of printing them."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str, *meta: Any) -> None:
        self.lines.append(f"INFO {message} {meta}")

    def error(self, message: str, *meta: Any) -> None:
        self.lines.append(f"ERROR {message} {meta}")

    def debug(self, message: str, *meta: Any) -> None:
        self.lines.append(f"DEBUG {message} {meta}")


def sdk_client(base_url: str, api_key: str = "") -> Blnk:
    return blnk_init(
        api_key, BlnkClientOptions(base_url=base_url, timeout=30_000, logger=QuietLogger())
    )


def describe(resp: ApiResponse) -> str:
    code = resp.error.code if resp.error is not None else None
    return f"status={resp.status} code={code} message={resp.message!r} data={resp.data!r}"


def ok(resp: ApiResponse, status: int = 200) -> Any:
    """Assert a success status and return the response body."""
    assert resp.status == status, describe(resp)
    assert resp.error is None, describe(resp)
    return resp.data


def failed(resp: ApiResponse, status: int, code: str) -> dict[str, Any]:
    """Assert a Blnk error envelope with this status and ``error_detail.code``."""
    assert resp.status == status, describe(resp)
    assert resp.error is not None, describe(resp)
    assert resp.error.code == code, describe(resp)
    assert resp.error.message, describe(resp)
    assert isinstance(resp.data, dict) and resp.data["error"] == resp.error.message, describe(resp)
    return resp.data


def check_ledger(data: dict[str, Any]) -> None:
    assert data.keys() >= LEDGER_FIELDS, sorted(LEDGER_FIELDS - data.keys())
    assert data["ledger_id"].startswith("ldg_")
    assert isinstance(data["created_at"], str) and data["created_at"].endswith("Z")


def check_balance(data: dict[str, Any]) -> None:
    assert data.keys() >= BALANCE_FIELDS, sorted(BALANCE_FIELDS - data.keys())
    assert data["balance_id"].startswith("bln_")
    for name in (*BALANCE_AMOUNTS, "version"):
        assert type(data[name]) is int, (name, data[name])


def check_transaction(data: dict[str, Any]) -> None:
    assert data.keys() >= TRANSACTION_FIELDS, sorted(TRANSACTION_FIELDS - data.keys())
    assert data["transaction_id"].startswith("txn_")
    assert HASH.match(data["hash"]), data["hash"]
    assert isinstance(data["parent_transaction"], str)
    assert isinstance(data["amount"], int | float) and not isinstance(data["amount"], bool)
    assert isinstance(data["created_at"], str)


def amounts(balance: dict[str, Any]) -> dict[str, int]:
    return {name: balance[name] for name in BALANCE_AMOUNTS}


def new_ledger(blnk: Blnk, name: str) -> str:
    data = ok(blnk.ledgers.create({"name": name}), 201)
    return str(data["ledger_id"])


def new_balance(blnk: Blnk, ledger_id: str, currency: str = "USD", **extra: Any) -> str:
    data = ok(
        blnk.ledger_balances.create({"ledger_id": ledger_id, "currency": currency, **extra}), 201
    )
    return str(data["balance_id"])


def get_balance(blnk: Blnk, balance_id: str) -> dict[str, Any]:
    data: dict[str, Any] = ok(blnk.ledger_balances.get(balance_id))
    return data


def fund(
    blnk: Blnk,
    balance_id: str,
    amount: float,
    *,
    reference: str,
    currency: str = "USD",
    source: str = "@World",
) -> dict[str, Any]:
    """Move ``amount`` (precision 100) from an indicator balance into ``balance_id``."""
    data: dict[str, Any] = ok(
        blnk.transactions.create(
            {
                "amount": amount,
                "precision": 100,
                "currency": currency,
                "reference": reference,
                "description": "funding",
                "source": source,
                "destination": balance_id,
                "allow_overdraft": True,
                "skip_queue": True,
            }
        ),
        201,
    )
    return data


def transfer(
    blnk: Blnk, source: str, destination: str, amount: float, *, reference: str, **extra: Any
) -> ApiResponse:
    body = {
        "amount": amount,
        "precision": 100,
        "currency": "USD",
        "reference": reference,
        "description": "transfer",
        "source": source,
        "destination": destination,
        "skip_queue": True,
        **extra,
    }
    return blnk.transactions.create(body)


def funded_pair(blnk: Blnk, unique: str, amount: float = 100) -> tuple[str, str]:
    """A source balance holding ``amount`` (precision 100) and an empty destination."""
    ledger_id = new_ledger(blnk, f"txn {unique}")
    source = new_balance(blnk, ledger_id)
    destination = new_balance(blnk, ledger_id)
    fund(blnk, source, amount, reference=f"fund-{unique}")
    return source, destination
