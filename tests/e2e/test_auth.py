"""Authentication, scoped API keys and Idempotency-Key on a real server started with a master key;
and ``tally serve`` refusing to listen beyond loopback without one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from blnk_sdk import BlnkErrorCode

from .blnk_support import failed, ok, sdk_client
from .harness import TallyServer, free_port, run_server, run_tally, server_env

MASTER = "master-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def secured(e2e_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TallyServer]:
    log_dir = tmp_path_factory.mktemp("e2e-secured")
    with run_server(e2e_database, log_dir, env={"TALLY_MASTER_KEY": MASTER}) as running:
        yield running


@pytest.fixture
def anonymous(secured: TallyServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=secured.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def master(secured: TallyServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=secured.base_url, timeout=30, headers={"X-Blnk-Key": MASTER}
    ) as client:
        yield client


def code_of(response: httpx.Response) -> str:
    return str(response.json()["error_detail"]["code"])


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def _balance(master: httpx.Client, unique: str) -> dict[str, Any]:
    ledger = _created(master.post("/ledgers", json={"name": f"auth {unique}"}))
    return _created(
        master.post("/balances", json={"ledger_id": ledger["ledger_id"], "currency": "USD"})
    )


def test_no_key_is_401_but_health_stays_public(anonymous: httpx.Client) -> None:
    for method, path in (
        ("POST", "/ledgers"),
        ("GET", "/balances/bln_x"),
        ("GET", "/transactions/reference/x"),
    ):
        response = anonymous.request(method, path, json={"name": "x"} if method == "POST" else None)
        assert response.status_code == 401, response.text
        assert code_of(response) == "AUTH_MISSING_API_KEY"
        assert response.json()["error"]
    assert anonymous.get("/health").json() == {"status": "UP"}


def test_master_key_in_either_header(anonymous: httpx.Client, unique: str) -> None:
    via_blnk = anonymous.post(
        "/ledgers", json={"name": f"blnk {unique}"}, headers={"X-Blnk-Key": MASTER}
    )
    assert via_blnk.status_code == 201, via_blnk.text
    via_bearer = anonymous.get(
        f"/ledgers/{via_blnk.json()['ledger_id']}", headers={"Authorization": f"Bearer {MASTER}"}
    )
    assert via_bearer.status_code == 200, via_bearer.text
    wrong = anonymous.get("/ledgers/x", headers={"X-Blnk-Key": MASTER + "-wrong"})
    assert wrong.status_code == 401
    assert code_of(wrong) == "AUTH_INVALID_API_KEY"


def test_blnk_sdk_with_and_without_the_key(secured: TallyServer, unique: str) -> None:
    with sdk_client(secured.base_url, MASTER) as keyed:
        created = ok(keyed.ledgers.create({"name": f"sdk {unique}"}), 201)
        assert ok(keyed.ledgers.get(created["ledger_id"]))["name"] == f"sdk {unique}"
    with sdk_client(secured.base_url) as keyless:  # the SDK sends no header for ""
        failed(keyless.ledgers.get(created["ledger_id"]), 401, BlnkErrorCode.AUTH_MISSING_API_KEY)


def test_scoped_api_key_then_revoked(
    master: httpx.Client, anonymous: httpx.Client, unique: str
) -> None:
    balance = _balance(master, unique)
    owner = f"owner-{unique}"
    expires = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    key = _created(
        master.post(
            "/api-keys",
            json={
                "name": "reporting",
                "owner": owner,
                "scopes": ["balances:read"],
                "expires_at": expires,
            },
        )
    )
    secret = key["key"]
    assert secret and secret != MASTER
    with_key = {"X-Blnk-Key": secret}

    read = anonymous.get(f"/balances/{balance['balance_id']}", headers=with_key)
    assert read.status_code == 200, read.text
    assert read.json()["balance_id"] == balance["balance_id"]
    bearer = anonymous.get(
        f"/balances/{balance['balance_id']}", headers={"Authorization": f"Bearer {secret}"}
    )
    assert bearer.status_code == 200, bearer.text

    write = anonymous.post(
        "/balances", headers=with_key, json={"ledger_id": balance["ledger_id"], "currency": "USD"}
    )
    assert write.status_code == 403, write.text
    assert code_of(write) == "AUTH_INSUFFICIENT_PERMISSIONS"
    other_resource = anonymous.get(f"/ledgers/{balance['ledger_id']}", headers=with_key)
    assert other_resource.status_code == 403, other_resource.text

    listed = master.get("/api-keys", params={"owner": owner})
    assert listed.status_code == 200, listed.text
    assert [k["api_key_id"] for k in listed.json()] == [key["api_key_id"]]
    assert all("key" not in k for k in listed.json())  # the secret is shown once

    revoked = master.delete(f"/api-keys/{key['api_key_id']}", params={"owner": owner})
    assert revoked.status_code == 204, revoked.text
    after = anonymous.get(f"/balances/{balance['balance_id']}", headers=with_key)
    assert after.status_code == 401, after.text
    assert code_of(after).startswith("AUTH_")


def test_idempotency_key_replays_the_first_response(master: httpx.Client, unique: str) -> None:
    balance = _balance(master, unique)
    body = {
        "amount": 12.5,
        "precision": 100,
        "currency": "USD",
        "reference": f"idem-{unique}",
        "description": "once",
        "source": "@World",
        "destination": balance["balance_id"],
        "allow_overdraft": True,
    }
    key = {"Idempotency-Key": f"key-{unique}"}
    first = master.post("/transactions", json=body, headers=key)
    assert first.status_code == 201, first.text
    retry = master.post("/transactions", json=body, headers=key)
    assert retry.status_code == 201, retry.text
    assert retry.json() == first.json()
    assert retry.headers.get("idempotent-replayed") == "true"

    changed = master.post("/transactions", json={**body, "amount": 99}, headers=key)
    assert changed.status_code == 409, changed.text
    assert code_of(changed) == "GEN_IDEMPOTENCY_KEY_REUSED"

    found = master.get(f"/transactions/reference/idem-{unique}").json()
    assert found["transaction_id"] == first.json()["transaction_id"]
    after = master.get(f"/balances/{balance['balance_id']}").json()
    assert (after["balance"], after["credit_balance"], after["version"]) == (1250, 1250, 1)

    # Without the header the same body is a second request: the reference is already taken.
    plain = master.post("/transactions", json=body)
    assert plain.status_code == 409
    assert code_of(plain) == "TXN_DUPLICATE_REFERENCE"


def test_an_error_response_is_replayed_too(master: httpx.Client, unique: str) -> None:
    balance = _balance(master, unique)
    body = {
        "amount": 5,
        "precision": 100,
        "currency": "USD",
        "reference": f"poor-{unique}",
        "description": "too much",
        "source": balance["balance_id"],
        "destination": "@Shop",
    }
    key = {"Idempotency-Key": f"err-{unique}"}
    first = master.post("/transactions", json=body, headers=key)
    assert first.status_code == 400 and code_of(first) == "TXN_INSUFFICIENT_FUNDS"
    retry = master.post("/transactions", json=body, headers=key)
    assert (retry.status_code, retry.json()) == (400, first.json())


def test_serve_refuses_a_public_address_without_a_master_key(tmp_path: Path) -> None:
    env = server_env(f"sqlite:///{tmp_path / 'refused.db'}")
    done = run_tally(["serve", "--host", "0.0.0.0", "--port", str(free_port())], env, timeout=60)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "TALLY_MASTER_KEY" in output
    assert "0.0.0.0" in output
    assert "Uvicorn running" not in output
