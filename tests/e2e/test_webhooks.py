"""Webhooks end to end: a real ``tally serve`` (relay and scheduler in-process) and a real
receiver on localhost that verifies every signature with the ``standardwebhooks`` library.

The server runs with a short retry schedule (0.5 s, 1 s, 2 s, 4 s, 8 s) so retries can be watched
without waiting hours; the receiver records arrival times.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from .webhook_support import (
    Receiver,
    Server,
    add_endpoint,
    new_wallet,
    receiver,
    serving,
    tally_env,
    wait_for,
)


@pytest.fixture(scope="module")
def hooks() -> Iterator[Receiver]:
    with receiver() as running:
        yield running


@pytest.fixture(scope="module")
def tally(e2e_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(tally_env(e2e_database), tmp_path_factory.mktemp("webhooks")) as server:
        yield server


@pytest.fixture
def path() -> str:
    return f"/hooks/{uuid.uuid4().hex[:10]}"


def pay(tally: Server, destination: str, reference: str, **extra: Any) -> dict[str, Any]:
    response = tally.http.post(
        "/transactions",
        json={
            "precise_amount": 1000,
            "currency": "USD",
            "reference": reference,
            "source": "@World",
            "destination": destination,
            **extra,
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def all_events(tally: Server, since: str) -> list[dict[str, Any]]:
    found, cursor = [], None
    while True:
        params: dict[str, Any] = {"created[gte]": since, "limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = tally.http.get("/events", params=params).json()
        found += page["data"]
        cursor = page["next_cursor"]
        if not cursor:
            return found


def test_every_ledger_change_arrives_signed(tally: Server, hooks: Receiver, path: str) -> None:
    endpoint = add_endpoint(tally.http, hooks, path)
    tag = uuid.uuid4().hex[:8]
    wallet = new_wallet(tally.http, tag)
    shop = new_wallet(tally.http, tag + "s")
    pay(tally, wallet, f"{tag}-fund")
    held = pay(tally, shop, f"{tag}-hold", inflight=True)
    tally.http.put(f"/transactions/inflight/{held['transaction_id']}", json={"status": "commit"})
    voided = pay(tally, shop, f"{tag}-void", inflight=True)
    tally.http.put(f"/transactions/inflight/{voided['transaction_id']}", json={"status": "void"})
    applied = pay(tally, wallet, f"{tag}-refund-me")
    tally.http.post(f"/refund-transaction/{applied['transaction_id']}")
    expected = {e["id"]: e for e in all_events(tally, endpoint["created_at"])}
    types = {e["type"] for e in expected.values()}
    assert {
        "ledger.created",
        "balance.created",
        "transaction.applied",
        "transaction.inflight",
        "transaction.committed",
        "transaction.voided",
        "transaction.refunded",
    } <= types
    wait_for(
        lambda: hooks.ids(path) >= set(expected), timeout=30, what="every event at the receiver"
    )
    for delivery in hooks.at(path):
        assert delivery.event == expected[delivery.webhook_id]  # the body is the event itself


def test_a_receiver_that_is_down_gets_every_event_later(
    tally: Server, hooks: Receiver, path: str
) -> None:
    endpoint = add_endpoint(tally.http, hooks, path, ["transaction.applied"])
    wallet = new_wallet(tally.http, "down")
    hooks.down()
    try:
        refs = [f"down-{uuid.uuid4().hex[:8]}" for _ in range(5)]
        for ref in refs:
            pay(tally, wallet, ref)

        def failed_attempts() -> bool:
            log = tally.http.get(
                "/webhooks/deliveries", params={"endpoint_id": endpoint["endpoint_id"]}
            ).json()["data"]
            return len(log) == 5 and all(d["attempts"] and d["attempts"][0]["error"] for d in log)

        wait_for(failed_attempts, timeout=30, what="attempts to fail while the receiver is down")
    finally:
        hooks.up()
    wait_for(
        lambda: {d.event["data"]["reference"] for d in hooks.at(path)} == set(refs),
        timeout=30,
        what="the missed events after the receiver came back",
    )


def test_a_receiver_answering_500_sees_retries_with_growing_gaps(
    tally: Server, hooks: Receiver, path: str
) -> None:
    endpoint = add_endpoint(tally.http, hooks, path, ["transaction.applied"])
    hooks.status[path] = 500
    pay(tally, new_wallet(tally.http, "retry"), f"retry-{uuid.uuid4().hex[:8]}")
    wait_for(lambda: len(hooks.at(path)) >= 5, timeout=30, what="five attempts")
    hooks.status[path] = 200
    arrivals = [d.at for d in hooks.at(path)[:5]]
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert gaps == sorted(gaps), gaps
    assert 0.4 < gaps[0] < 1.5 and gaps[-1] > 3.0, gaps
    assert len({d.webhook_id for d in hooks.at(path)}) == 1

    def first_five_logged() -> list[int]:
        log = tally.http.get(
            "/webhooks/deliveries", params={"endpoint_id": endpoint["endpoint_id"]}
        ).json()["data"]
        return [a["status_code"] for a in log[0]["attempts"][:5]] if log else []

    # attempt results are written in batches, so the log may trail the receiver a moment
    wait_for(lambda: len(first_five_logged()) == 5, timeout=30, what="five logged attempts")
    assert first_five_logged() == [500] * 5


def test_410_disables_the_endpoint(tally: Server, hooks: Receiver, path: str) -> None:
    endpoint = add_endpoint(tally.http, hooks, path, ["transaction.applied"])
    hooks.status[path] = 410
    wallet = new_wallet(tally.http, "gone")
    pay(tally, wallet, f"gone-{uuid.uuid4().hex[:8]}")
    url = f"/webhooks/endpoints/{endpoint['endpoint_id']}"
    shown = wait_for(
        lambda: (e := tally.http.get(url).json())["status"] == "disabled" and e,
        timeout=30,
        what="the endpoint to be disabled",
    )
    assert "410" in shown["disabled_reason"]
    pay(tally, wallet, f"gone-{uuid.uuid4().hex[:8]}")
    assert len(hooks.at(path)) == 1


def test_resend_and_recover(tally: Server, hooks: Receiver, path: str) -> None:
    endpoint = add_endpoint(tally.http, hooks, path, ["transaction.applied"])
    url = f"/webhooks/endpoints/{endpoint['endpoint_id']}"
    wallet = new_wallet(tally.http, "replay")
    pay(tally, wallet, f"replay-{uuid.uuid4().hex[:8]}")
    first = wait_for(lambda: hooks.at(path), timeout=30, what="the first delivery")[0]
    resent = tally.http.post(
        f"/events/{first.webhook_id}/resend", json={"endpoint_id": endpoint["endpoint_id"]}
    )
    assert resent.status_code == 202
    wait_for(lambda: len(hooks.at(path)) == 2, timeout=30, what="the resent event")
    assert hooks.at(path)[1].webhook_id == first.webhook_id
    tally.http.post(f"{url}/disable")
    since = tally.http.get(url).json()["updated_at"]
    missed = [f"missed-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for ref in missed:
        pay(tally, wallet, ref)
    tally.http.post(f"{url}/enable")
    recovered = tally.http.post(f"{url}/recover", params={"since": since})
    assert recovered.json()["queued"] == 3
    wait_for(
        lambda: {d.event["data"]["reference"] for d in hooks.at(path)} >= set(missed),
        timeout=30,
        what="the recovered events",
    )
