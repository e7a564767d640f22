"""Seeds 003 and 001 against a real ``tally serve`` on each store, with a real webhook receiver.

The last test scans the whole database (every table, and the SQLite files byte by byte) and the
server's log for the card numbers and CVV used here, in every form they were sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

from tally.store.database import Database, sqlite_path

from .harness import TallyServer, free_port, run_server
from .webhook_support import ReceiverServer

PAN = "4000056655665556"
SPACED_PAN = "4000 0566 5566 5556"
ISSUED_PAN = "5200828282828210"
CVV = "739"
FP_KEY = base64.b64encode(b"e2e-fingerprint-key-32-bytes-ok!").decode()
ENC_KEY = base64.b64encode(b"e2e-encryption-key-32-bytes-ok!!").decode()
DEADLINE = 30.0


class Receiver:
    """A webhook receiver on a loopback port that keeps what it is sent, headers and raw body."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    receiver.received.append(
                        ({k.lower(): v for k, v in self.headers.items()}, body)
                    )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.port = free_port()
        self.server = ReceiverServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.port}/hooks"

    def wait_for(self, event_type: str) -> tuple[dict[str, str], bytes]:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            with self.lock:
                for headers, body in self.received:
                    if json.loads(body).get("type") == event_type:
                        return headers, body
            time.sleep(0.05)
        raise AssertionError(f"no {event_type} webhook within {DEADLINE}s: {self.received}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def cards_server(
    e2e_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TallyServer]:
    env = {
        "TALLY_CARD_FINGERPRINT_KEY": FP_KEY,
        "TALLY_CARD_ENCRYPTION_KEY": ENC_KEY,
        "TALLY_WORKER_POLL_SECONDS": "0.1",
    }
    with run_server(e2e_database, tmp_path_factory.mktemp("cards-server"), env=env) as running:
        yield running


@pytest.fixture(scope="module")
def api(cards_server: TallyServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cards_server.base_url, timeout=30.0) as client:
        yield client


@pytest.fixture(scope="module")
def receiver(e2e_database: str) -> Iterator[Receiver]:
    """One receiver per store, so a delivery from one server is never read for another."""
    running = Receiver()
    yield running
    running.close()


def ok(response: httpx.Response, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_seed_003_clearing_at_merchant_58725_is_rewarded_and_signed(
    api: httpx.Client, receiver: Receiver
) -> None:
    hook = ok(
        api.post(
            "/webhooks/endpoints", json={"url": receiver.url, "event_types": ["offer.redeemed"]}
        )
    )
    offer = ok(
        api.post(
            "/offers",
            json={
                "merchant_id": 58725,
                "name": "BP fuel",
                "pos_text": "EUR 2 back on fuel",
                "currency": "EUR",
                "reward": {"type": "cashback", "amount": 200},
                "min_spend": 2000,
            },
        )
    )
    person = ok(api.post("/persons", json={"full_name": "Jerry Doe", "email": "jerry@example.com"}))
    card = ok(
        api.post(
            "/cards",
            json={
                "person_id": person["person_id"],
                "number": SPACED_PAN,
                "exp_month": 8,
                "exp_year": 2031,
            },
        )
    )
    assert card["last4"] == "5556" and card["number"].startswith("400005")
    link = ok(api.post(f"/cards/{card['card_id']}/offers", json={"offer_id": offer["offer_id"]}))
    assert link["card_offer_id"].startswith("cof_")
    body = {
        "id": "visa-0001",
        "number": PAN,
        "merchant_id": "58725",
        "amount": 4500,
        "currency": "EUR",
        "type": "clearing",
    }
    cleared = ok(api.post("/card-transactions", json=body))
    assert cleared["outcome"] == "rewarded" and cleared["card_id"] == card["card_id"]
    assert ok(api.post("/card-transactions", json=body), 200) == cleared
    redemption = ok(api.get(f"/card-transactions/{cleared['card_transaction_id']}"), 200)[
        "redemption"
    ]
    reward = ok(api.get(f"/transactions/{redemption['transaction_id']}"), 200)
    assert reward["status"] == "APPLIED" and reward["precise_amount"] == 200
    assert ok(api.get(f"/balances/{reward['destination']}"), 200)["balance"] == 200

    headers, raw = receiver.wait_for("offer.redeemed")
    event = Webhook(hook["secret"]).verify(raw, headers)
    assert event["data"]["redemption_id"] == redemption["redemption_id"]
    assert event["data"]["offer"]["merchant_id"] == "58725"
    assert event["data"]["card"]["last4"] == "5556"
    with pytest.raises(Exception, match="signature"):
        Webhook(hook["secret"]).verify(raw.replace(b"200", b"900"), headers)


def test_seed_001_by_hand_on_the_raw_ledger_api(api: httpx.Client) -> None:
    ledger = ok(
        api.post(
            "/ledgers", json={"name": "USD Ledger", "meta_data": {"project_owner": "YOUR_APP_NAME"}}
        )
    )
    card = ok(
        api.post(
            "/balances",
            json={
                "ledger_id": ledger["ledger_id"],
                "currency": "USD",
                "meta_data": {
                    "card_state": "ACTIVE",
                    "card_number": "•••• •••• •••• 8210",
                    "card_expiry": "12/31",
                    "customer_name": "Jerry",
                },
            },
        )
    )
    ok(
        api.post(
            "/transactions",
            json={
                "amount": 500,
                "precision": 100,
                "reference": "fund-jerry-card",
                "currency": "USD",
                "source": "@World",
                "destination": card["balance_id"],
                "description": "Card top-up",
            },
        )
    )
    held = ok(
        api.post(
            "/transactions",
            json={
                "amount": 120,
                "precision": 100,
                "reference": "auth-1",
                "currency": "USD",
                "source": card["balance_id"],
                "destination": "@Merchant",
                "inflight": True,
                "description": "Card authorization",
                "meta_data": {"merchant": "Coffee"},
            },
        )
    )
    shown = ok(api.get(f"/balances/{card['balance_id']}"), 200)
    assert shown["balance"] - shown["inflight_debit_balance"] == 38_000  # available
    ok(api.put(f"/transactions/inflight/{held['transaction_id']}", json={"status": "commit"}), 200)
    declined = ok(
        api.post(
            "/transactions",
            json={
                "amount": 50,
                "precision": 100,
                "reference": "auth-2",
                "currency": "USD",
                "source": card["balance_id"],
                "destination": "@Merchant",
                "inflight": True,
                "description": "Card authorization",
            },
        )
    )
    ok(
        api.put(f"/transactions/inflight/{declined['transaction_id']}", json={"status": "void"}),
        200,
    )
    ok(
        api.post(f"/{card['balance_id']}/metadata", json={"meta_data": {"card_state": "BLOCKED"}}),
        200,
    )
    final = ok(api.get(f"/balances/{card['balance_id']}"), 200)
    assert final["balance"] == 38_000 and final["inflight_debit_balance"] == 0
    assert final["meta_data"]["card_state"] == "BLOCKED"


def test_seed_001_virtual_cards_approve_decline_and_block(api: httpx.Client) -> None:
    jerry = ok(api.post("/identities", json={"first_name": "Jerry", "last_name": "Doe"}))
    card = ok(
        api.post(
            "/virtual-cards",
            json={
                "holder": jerry["identity_id"],
                "currency": "USD",
                "limits": {"per_authorization": 100_000},
                "details": {"number": ISSUED_PAN, "cvv": CVV, "exp_month": 12, "exp_year": 2031},
            },
        )
    )
    assert card["details"]["number"].endswith("8210") and ISSUED_PAN not in json.dumps(card)
    ok(
        api.post(
            "/transactions",
            json={
                "precise_amount": 50_000,
                "precision": 100,
                "reference": f"fund-{card['card_id']}",
                "currency": "USD",
                "source": "@World",
                "destination": card["balance_id"],
            },
        )
    )
    path = f"/virtual-cards/{card['card_id']}/authorizations"
    auth = ok(
        api.post(
            path,
            json={
                "amount": 12_000,
                "currency": "USD",
                "merchant_id": "m-1",
                "merchant_name": "Coffee",
            },
        )
    )
    assert auth["status"] == "PENDING"
    captured = ok(api.post(f"{path}/{auth['auth_id']}/capture"), 200)
    assert captured["status"] == "CAPTURED"
    too_much = ok(api.post(path, json={"amount": 40_000, "currency": "USD", "merchant_id": "m-1"}))
    assert too_much["status"] == "DECLINED"
    assert too_much["decline_reason"] == "insufficient_funds"
    assert ok(api.post(f"/virtual-cards/{card['card_id']}/block"), 200)["state"] == "BLOCKED"
    blocked = ok(api.post(path, json={"amount": 100, "currency": "USD", "merchant_id": "m-1"}))
    assert blocked["decline_reason"] == "card_blocked"
    shown = ok(api.get(f"/virtual-cards/{card['card_id']}"), 200)
    assert shown["balance"] == {"balance": 38_000, "held": 0, "available": 38_000}


def _forms(number: str) -> list[str]:
    grouped = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    return [number, grouped, grouped.replace(" ", "-"), hashlib.sha256(number.encode()).hexdigest()]


def test_no_card_number_or_cvv_in_the_database_or_the_logs(
    cards_server: TallyServer, e2e_database: str
) -> None:
    needles = [*_forms(PAN), *_forms(ISSUED_PAN)]
    found_text = _database_text(e2e_database) + cards_server.log(tail=10_000_000)
    for needle in needles:
        assert needle not in found_text, "a card number was stored or logged"
    assert f'"{CVV}"' not in found_text and "cvv" not in found_text.lower()
    path = sqlite_path(e2e_database)
    if path is not None:
        for file in [path, Path(f"{path}-wal")]:
            if file.exists():
                raw = file.read_bytes()
                for needle in needles:
                    assert needle.encode() not in raw, f"a card number is in {file.name}"


def _database_text(url: str) -> str:
    import asyncio

    async def dump() -> str:
        db = Database(url)
        chunks: list[str] = []
        async with db.read() as conn:
            names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
            for name in names:
                rows = await conn.execute(sa.text(f'SELECT * FROM "{name}"'))
                chunks.extend(repr(tuple(row)) for row in rows)
        await db.dispose()
        return "\n".join(chunks)

    return asyncio.run(dump())
