"""The relay on both stores: fan-out, signed delivery, retries on a test schedule, 410, resend,
recover, rotation, and a slow receiver that does not hold up the others.

The receiver is an in-process ``httpx`` transport that checks every signature with the
``standardwebhooks`` library; the clock is a ``FakeClock`` moved by the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tally.core.clock import FakeClock, parse_timestamp
from tally.services import Services
from tally.store import events_repo
from tally.store import tables as t
from tally.workers.relay import Relay, RelayConfig

SCHEDULE = (5.0, 60.0, 300.0)


class Receiver:
    """Records deliveries per URL and answers with a status chosen per URL."""

    def __init__(self) -> None:
        self.secrets: dict[str, list[str]] = {}
        self.status: dict[str, int] = {}
        self.received: list[dict[str, Any]] = []
        self.gate: dict[str, asyncio.Event] = {}
        self.in_flight: dict[str, int] = {}
        self.most_in_flight: dict[str, int] = {}
        self.forged: list[str] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.in_flight[url] = self.in_flight.get(url, 0) + 1
        self.most_in_flight[url] = max(self.most_in_flight.get(url, 0), self.in_flight[url])
        try:
            if url in self.gate:
                await self.gate[url].wait()
            body = request.content.decode()
            headers = dict(request.headers)
            try:
                for secret in self.secrets.get(url, []):
                    event = Webhook(secret).verify(body, headers)
            except WebhookVerificationError as exc:
                self.forged.append(str(exc))
                return httpx.Response(400, text=str(exc))
            self.received.append({"url": url, "headers": headers, "event": event})
            return httpx.Response(self.status.get(url, 200), text="ok")
        finally:
            self.in_flight[url] -= 1

    def events(self, url: str) -> list[dict[str, Any]]:
        return [r["event"] for r in self.received if r["url"] == url]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    assert found.forged == [], "a delivery failed signature verification"


@pytest.fixture
async def relay(svc: Services, receiver: Receiver) -> AsyncIterator[Relay]:
    config = RelayConfig(
        schedule=SCHEDULE,
        max_age=timedelta(hours=1),
        timeout=2.0,
        poll_seconds=0.02,
        per_endpoint=2,
    )
    worker = Relay(svc, config=config, transport=httpx.MockTransport(receiver), rand=lambda: 0.5)
    yield worker
    await worker.stop()


async def endpoint(
    api: Any, receiver: Receiver, url: str, types: list[str] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url}
    if types is not None:
        body["event_types"] = types
    created = (await api.post("/webhooks/endpoints", json=body)).json()
    receiver.secrets[url] = [created["secret"]]
    return dict(created)


async def balance(api: Any) -> str:
    ledger = (await api.post("/ledgers", json={"name": "Cards"})).json()
    made = await api.post("/balances", json={"ledger_id": ledger["ledger_id"], "currency": "USD"})
    return str(made.json()["balance_id"])


async def pay(api: Any, destination: str, reference: str, amount: int = 500) -> dict[str, Any]:
    response = await api.post(
        "/transactions",
        json={
            "precise_amount": amount,
            "currency": "USD",
            "reference": reference,
            "source": "@World",
            "destination": destination,
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_each_ledger_change_reaches_the_endpoint_signed(
    api: Any, relay: Relay, receiver: Receiver
) -> None:
    url = "http://127.0.0.1:9/all"
    hook = await endpoint(api, receiver, url)
    bal = await balance(api)
    txn = await pay(api, bal, "sig-1")
    await relay.run_once()
    types = [e["type"] for e in receiver.events(url)]
    assert sorted(types) == [
        "balance.created",
        "balance.created",
        "ledger.created",
        "transaction.applied",
    ]
    applied = next(r for r in receiver.received if r["event"]["type"] == "transaction.applied")
    assert applied["headers"]["webhook-id"] == applied["event"]["id"]
    assert applied["headers"]["webhook-signature"].startswith("v1,")
    assert applied["event"]["data"]["transaction_id"] == txn["transaction_id"]
    log = await api.get("/webhooks/deliveries", params={"endpoint_id": hook["endpoint_id"]})
    rows = log.json()["data"]
    assert len(rows) == 4 and {r["status"] for r in rows} == {"succeeded"}
    first = rows[0]["attempts"][0]
    assert first["status_code"] == 200 and first["succeeded"] and first["latency_ms"] >= 0
    assert await relay.run_once() == 0  # nothing is sent twice


async def test_only_wanted_types_create_deliveries(
    api: Any, relay: Relay, receiver: Receiver
) -> None:
    url = "http://127.0.0.1:9/txns"
    await endpoint(api, receiver, url, ["transaction.applied"])
    bal = await balance(api)
    await pay(api, bal, "only-1")
    await relay.run_once()
    assert [e["type"] for e in receiver.events(url)] == ["transaction.applied"]
    deliveries = (await api.get("/webhooks/deliveries")).json()["data"]
    assert len(deliveries) == 1


async def test_a_failing_receiver_sees_retries_with_growing_gaps(
    api: Any, relay: Relay, receiver: Receiver, clock: FakeClock
) -> None:
    url = "http://127.0.0.1:9/broken"
    hook = await endpoint(api, receiver, url, ["transaction.*"])
    receiver.status[url] = 500
    bal = await balance(api)
    await pay(api, bal, "retry-1")
    assert await relay.run_once() == 1
    gaps = []
    for expected in SCHEDULE:
        delivery = (await api.get("/webhooks/deliveries")).json()["data"][0]
        assert delivery["status"] == "pending"
        due = parse_timestamp(delivery["next_attempt_at"])
        gaps.append((due - clock.now()).total_seconds())
        assert gaps[-1] == pytest.approx(expected)
        clock.set(due - timedelta(seconds=1))
        assert await relay.run_once() == 0  # not before its time
        clock.set(due)
        assert await relay.run_once() == 1
    assert gaps == sorted(gaps)
    delivery = (await api.get("/webhooks/deliveries")).json()["data"][0]
    assert delivery["status"] == "failed" and "gave up after 4 attempts" in delivery["last_error"]
    assert [a["status_code"] for a in delivery["attempts"]] == [500] * 4
    assert len(receiver.events(url)) == 4
    assert len({e["id"] for e in receiver.events(url)}) == 1  # the same event each time
    shown = (await api.get(f"/webhooks/endpoints/{hook['endpoint_id']}")).json()
    assert shown["status"] == "enabled"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_attempts_outcomes_and_lag_are_metrics(
    api: Any, relay: Relay, receiver: Receiver, clock: FakeClock
) -> None:
    good, bad = "http://127.0.0.1:9/good", "http://127.0.0.1:9/bad"
    await endpoint(api, receiver, good, ["transaction.*"])
    await endpoint(api, receiver, bad, ["transaction.*"])
    receiver.status[bad] = 500
    before = {
        "ok": sample("tally_webhook_attempts_total", result="succeeded"),
        "http": sample("tally_webhook_attempts_total", result="http_status"),
        "timed": sample("tally_webhook_attempt_seconds_count"),
        "done": sample("tally_webhook_deliveries_finished_total", state="succeeded"),
        "gave_up": sample("tally_webhook_deliveries_finished_total", state="failed"),
    }
    bal = await balance(api)
    await pay(api, bal, "metrics-1")
    clock.advance(timedelta(seconds=30))  # the relay hands the event on 30 s after it was made
    assert await relay.run_once() == 2
    assert sample("tally_relay_lag_seconds") == pytest.approx(30.0)
    for _ in SCHEDULE:  # the failing endpoint uses up its retries
        clock.advance(timedelta(seconds=max(SCHEDULE) * 2))
        assert await relay.run_once() == 1
    assert sample("tally_relay_lag_seconds") == 0.0  # nothing new in the last round
    assert sample("tally_webhook_attempts_total", result="succeeded") == before["ok"] + 1
    assert sample("tally_webhook_attempts_total", result="http_status") == before["http"] + 4
    assert sample("tally_webhook_attempt_seconds_count") == before["timed"] + 5
    finished = "tally_webhook_deliveries_finished_total"
    assert sample(finished, state="succeeded") == before["done"] + 1
    assert sample(finished, state="failed") == before["gave_up"] + 1


async def test_a_receiver_down_for_a_while_gets_everything_later(
    api: Any, relay: Relay, receiver: Receiver, clock: FakeClock
) -> None:
    url = "http://127.0.0.1:9/down"
    await endpoint(api, receiver, url, ["transaction.applied"])
    receiver.status[url] = 503
    bal = await balance(api)
    for n in range(5):
        await pay(api, bal, f"down-{n}")
    await relay.run_once()
    receiver.status[url] = 200
    clock.advance(timedelta(seconds=6))
    await relay.run_once()
    delivered = [r for r in receiver.received if r["url"] == url]
    ok = {d["event"]["id"] for d in delivered[5:]}
    assert len(ok) == 5
    states = {d["status"] for d in (await api.get("/webhooks/deliveries")).json()["data"]}
    assert states == {"succeeded"}


async def test_410_disables_the_endpoint_and_cancels_what_is_pending(
    api: Any, relay: Relay, receiver: Receiver
) -> None:
    url = "http://127.0.0.1:9/gone"
    hook = await endpoint(api, receiver, url, ["transaction.applied"])
    relay.config = RelayConfig(schedule=SCHEDULE, timeout=2.0, per_endpoint=1, max_in_flight=1)
    receiver.status[url] = 410
    bal = await balance(api)
    await pay(api, bal, "gone-1")
    await pay(api, bal, "gone-2")
    await relay.run_once()
    shown = (await api.get(f"/webhooks/endpoints/{hook['endpoint_id']}")).json()
    assert shown["status"] == "disabled" and "410" in shown["disabled_reason"]
    rows = (await api.get("/webhooks/deliveries")).json()["data"]
    assert sorted(r["status"] for r in rows) == ["cancelled", "failed"]
    await pay(api, bal, "gone-3")
    await relay.run_once()
    assert len(receiver.events(url)) == 1  # nothing goes to a disabled endpoint


async def test_resend_sends_the_same_event_again(
    api: Any, relay: Relay, receiver: Receiver
) -> None:
    url = "http://127.0.0.1:9/resend"
    hook = await endpoint(api, receiver, url, ["transaction.applied"])
    bal = await balance(api)
    await pay(api, bal, "resend-1")
    await relay.run_once()
    event_id = receiver.events(url)[0]["id"]
    answer = await api.post(f"/events/{event_id}/resend", json={"endpoint_id": hook["endpoint_id"]})
    assert answer.status_code == 202
    assert answer.json()["deliveries"][0]["endpoint_id"] == hook["endpoint_id"]
    await relay.run_once()
    assert [e["id"] for e in receiver.events(url)] == [event_id, event_id]
    delivery_id = answer.json()["deliveries"][0]["delivery_id"]
    delivery = await api.get(f"/webhooks/deliveries/{delivery_id}")
    assert [a["trigger"] for a in delivery.json()["attempts"]] == ["event", "resend"]
    everyone = await api.post(f"/events/{event_id}/resend")
    assert len(everyone.json()["deliveries"]) == 1


async def test_recover_replays_what_a_disabled_endpoint_missed(
    api: Any, relay: Relay, receiver: Receiver, clock: FakeClock
) -> None:
    url = "http://127.0.0.1:9/recover"
    hook = await endpoint(api, receiver, url, ["transaction.applied"])
    path = f"/webhooks/endpoints/{hook['endpoint_id']}"
    bal = await balance(api)
    await pay(api, bal, "before")
    await relay.run_once()
    since = clock.now()
    await api.post(f"{path}/disable")
    clock.advance(timedelta(minutes=1))
    for n in range(3):
        await pay(api, bal, f"missed-{n}")
    await relay.run_once()
    assert len(receiver.events(url)) == 1
    await api.post(f"{path}/enable")
    recovered = await api.post(f"{path}/recover", params={"since": since.isoformat()})
    assert recovered.status_code == 202 and recovered.json()["queued"] == 3
    await relay.run_once()
    refs = sorted(e["data"]["reference"] for e in receiver.events(url))
    assert refs == ["before", "missed-0", "missed-1", "missed-2"]
    again = await api.post(f"{path}/recover", params={"since": since.isoformat()})
    assert again.json()["queued"] == 0  # delivered events are not sent again


async def test_rotation_signs_with_both_secrets_during_the_grace_period(
    api: Any, relay: Relay, receiver: Receiver
) -> None:
    url = "http://127.0.0.1:9/rotate"
    hook = await endpoint(api, receiver, url, ["transaction.applied"])
    old = hook["secret"]
    rotated = await api.post(f"/webhooks/endpoints/{hook['endpoint_id']}/rotate-secret")
    new = rotated.json()["secret"]
    receiver.secrets[url] = [old, new]  # each must verify on its own
    bal = await balance(api)
    await pay(api, bal, "rotate-1")
    await relay.run_once()
    assert len(receiver.events(url)) == 1
    assert len(receiver.received[-1]["headers"]["webhook-signature"].split()) == 2
    immediate = await api.post(
        f"/webhooks/endpoints/{hook['endpoint_id']}/rotate-secret", json={"grace_period_seconds": 0}
    )
    receiver.secrets[url] = [immediate.json()["secret"]]
    await pay(api, bal, "rotate-2")
    await relay.run_once()
    assert len(receiver.received[-1]["headers"]["webhook-signature"].split()) == 1


async def test_a_slow_receiver_does_not_hold_up_the_others(
    api: Any, relay: Relay, receiver: Receiver
) -> None:
    slow, fast = "http://127.0.0.1:9/slow", "http://127.0.0.1:9/fast"
    await endpoint(api, receiver, slow, ["transaction.applied"])
    await endpoint(api, receiver, fast, ["transaction.applied"])
    receiver.gate[slow] = asyncio.Event()
    bal = await balance(api)
    for n in range(6):
        await pay(api, bal, f"slow-{n}")
    await relay.start()
    deadline = asyncio.get_running_loop().time() + 20
    while len(receiver.events(fast)) < 6:
        assert asyncio.get_running_loop().time() < deadline, "fast endpoint starved"
        await asyncio.sleep(0.02)
    assert receiver.events(slow) == []
    assert receiver.most_in_flight[slow] == 2  # bounded per endpoint
    receiver.gate[slow].set()
    while len(receiver.events(slow)) < 6:
        assert asyncio.get_running_loop().time() < deadline, "slow endpoint never caught up"
        await asyncio.sleep(0.02)


async def test_events_committed_late_are_still_handed_on(svc: Services) -> None:
    """A gap in event ids (a transaction still open) is looked at again until it fills."""
    now = svc.clock.now()
    row = {"type": "ledger.created", "subject_id": None, "payload": {}, "created_at": now}
    async with svc.db.write() as conn:
        await conn.execute(
            t.events.insert(),
            [{**row, "id": 1, "event_id": "evt_1"}, {**row, "id": 3, "event_id": "evt_3"}],
        )
    async with svc.db.write() as conn:
        cursor = await events_repo.lock_cursor(conn, now=now)
        assert cursor is not None
        first = await events_repo.take(conn, cursor, limit=10)
        await events_repo.save_cursor(conn, cursor, now=now)
    assert [e.event_id for e in first] == ["evt_1", "evt_3"] and set(cursor.gaps) == {2}
    async with svc.db.read() as conn:
        assert not await events_repo.has_work(conn, await events_repo.peek_cursor(conn))
    async with svc.db.write() as conn:
        await conn.execute(t.events.insert(), [{**row, "id": 2, "event_id": "evt_2"}])
    async with svc.db.read() as conn:
        assert await events_repo.has_work(conn, await events_repo.peek_cursor(conn))
    async with svc.db.write() as conn:
        cursor = await events_repo.lock_cursor(conn, now=now)
        assert cursor is not None
        late = await events_repo.take(conn, cursor, limit=10)
    assert [e.event_id for e in late] == ["evt_2"] and cursor.gaps == {}


@pytest.mark.parametrize("gap, most", [(0.1, 5), (0.0, None)])
async def test_a_steady_stream_is_handed_on_in_few_rounds(
    svc: Services, monkeypatch: pytest.MonkeyPatch, gap: float, most: int | None
) -> None:
    """A round that handed events on is followed by the next one only ``round_gap`` later, so a
    steady stream costs a few rounds a second, each with many events (0 turns the pause off)."""
    rounds = 0

    async def fan_out() -> int:  # events are always waiting
        nonlocal rounds
        rounds += 1
        await asyncio.sleep(0)
        return 3

    worker = Relay(svc, config=RelayConfig(poll_seconds=0.02, round_gap=gap))
    monkeypatch.setattr(worker, "fan_out", fan_out)
    await worker.start()
    await asyncio.sleep(0.35)
    await worker.stop()
    if most is not None:
        assert 2 <= rounds <= most
    else:
        assert rounds > 20


@pytest.mark.parametrize(
    "listening, sending, least, most",
    [(False, False, 1, 3), (True, False, 8, 40), (False, True, 8, 40)],
)
async def test_rounds_with_no_one_to_deliver_to_are_a_quiet_gap_apart(
    svc: Services,
    monkeypatch: pytest.MonkeyPatch,
    listening: bool,
    sending: bool,
    least: int,
    most: int,
) -> None:
    """When the events handed on found no enabled endpoint and nothing is being sent, the next
    round waits ``quiet_gap``; an endpoint, or a delivery under way, brings back ``round_gap``."""
    rounds = 0
    worker = Relay(svc, config=RelayConfig(poll_seconds=0.02, round_gap=0.02, quiet_gap=0.3))

    async def fan_out() -> int:  # events are always waiting
        nonlocal rounds
        rounds += 1
        worker.listening = listening
        await asyncio.sleep(0)
        return 3

    async def dispatch() -> list[asyncio.Task[None]]:
        return [asyncio.create_task(asyncio.sleep(0))] if sending else []

    monkeypatch.setattr(worker, "fan_out", fan_out)
    monkeypatch.setattr(worker, "dispatch", dispatch)
    await worker.start()
    await asyncio.sleep(0.4)
    await worker.stop()
    assert least <= rounds <= most


async def test_a_slot_is_free_once_the_endpoint_answered_before_the_outcome_is_written(
    api: Any, relay: Relay, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "http://127.0.0.1:9/quick"
    await endpoint(api, receiver, url, ["transaction.applied"])
    bal = await balance(api)
    await pay(api, bal, "slot-1")
    await relay.fan_out()
    writing = asyncio.Event()
    release = asyncio.Event()
    write_batch = relay._write_batch

    async def slow_write(batch: Any) -> None:
        writing.set()
        await release.wait()
        await write_batch(batch)

    monkeypatch.setattr(relay, "_write_batch", slow_write)
    [task] = await relay.dispatch()
    try:
        await asyncio.wait_for(writing.wait(), 5)
        assert len(receiver.events(url)) == 1
        assert dict(relay._in_flight) == {}  # the endpoint's slot is free already
        assert not task.done()  # while its outcome is still being written
    finally:
        release.set()
    await task
    deliveries = (await api.get("/webhooks/deliveries")).json()["data"]
    assert [d["status"] for d in deliveries] == ["succeeded"]


@pytest.mark.parametrize("gather, most_writes", [(0.2, 1), (0.0, None)])
async def test_outcomes_that_finish_close_together_are_written_together(
    svc: Services,
    api: Any,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    gather: float,
    most_writes: int | None,
) -> None:
    """Deliveries answered a few milliseconds apart: with ``gather_seconds`` their outcomes go
    to the database in one write; without, each in its own."""
    url = "http://127.0.0.1:9/staggered"
    await endpoint(api, receiver, url, ["transaction.applied"])
    bal = await balance(api)
    for n in range(4):
        await pay(api, bal, f"staggered-{n}")
    answered = 0

    async def staggered(request: httpx.Request) -> httpx.Response:
        nonlocal answered
        answered += 1
        await asyncio.sleep(0.02 * answered)
        return await receiver(request)

    config = RelayConfig(poll_seconds=0.02, per_endpoint=4, gather_seconds=gather)
    worker = Relay(svc, config=config, transport=httpx.MockTransport(staggered))
    writes: list[int] = []
    write_batch = worker._write_batch

    async def counted(batch: Any) -> None:
        writes.append(len(batch))
        await write_batch(batch)

    monkeypatch.setattr(worker, "_write_batch", counted)
    try:
        await worker.run_once()
    finally:
        await worker.stop()
    assert sum(writes) == 4 and len(receiver.events(url)) == 4
    if most_writes is not None:
        assert len(writes) <= most_writes
    else:
        assert len(writes) == 4


async def test_the_relay_knows_whether_anyone_listens(
    api: Any, relay: Relay, receiver: Receiver
) -> None:
    bal = await balance(api)
    await pay(api, bal, "unheard-1")
    await relay.fan_out()
    assert relay.listening is False
    await endpoint(api, receiver, "http://127.0.0.1:9/ear", ["transaction.applied"])
    await pay(api, bal, "heard-1")
    await relay.fan_out()
    assert relay.listening is True


async def test_an_endpoint_gets_only_events_from_its_creation_on(
    api: Any, relay: Relay, receiver: Receiver, clock: FakeClock
) -> None:
    bal = await balance(api)
    await pay(api, bal, "before-1")
    clock.advance(timedelta(seconds=1))
    url = "http://127.0.0.1:9/later"
    await endpoint(api, receiver, url, ["transaction.applied"])
    txn = await pay(api, bal, "after-1")
    await relay.run_once()
    got = receiver.events(url)
    assert [e["data"]["transaction_id"] for e in got] == [txn["transaction_id"]]
