"""Support for the webhook end-to-end tests: a real receiver and real Tally processes.

``Receiver`` is an HTTP server on a loopback port (its own thread) that checks every delivery with
the ``standardwebhooks`` library itself, records it, and answers with the status set for its path
(or not at all while it is ``down``). ``Process`` runs ``tally serve`` or ``tally worker`` and can
stop it with SIGTERM or kill it with SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tally.store.database import Database

TALLY = Path(sys.executable).parent / "tally"
FAST_RETRIES = "0.5,1,2,4,8"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], *, timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy, or fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


@dataclass
class Delivery:
    path: str
    webhook_id: str
    event: dict[str, Any]
    at: float


class ReceiverServer(ThreadingHTTPServer):
    request_queue_size = 256  # a listen backlog like a production server's
    daemon_threads = True


class Receiver:
    """A webhook receiver on 127.0.0.1 that verifies signatures with ``standardwebhooks``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.secrets: dict[str, list[str]] = {}
        self.status: dict[str, int] = {}
        self.delay: dict[str, float] = {}
        self.deliveries: list[Delivery] = []
        self.forged: list[str] = []
        self._lock = threading.Lock()
        self._server: ReceiverServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        deadline = time.monotonic() + 10
        while True:
            try:
                self._server = ReceiverServer(("127.0.0.1", self.port), Handler)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("content-length") or 0)
        raw = request.rfile.read(length)
        if len(raw) < length:
            return  # the sender died mid-request (a killed worker): nothing was delivered
        body = raw.decode()
        headers = {k.lower(): v for k, v in request.headers.items()}
        path = request.path
        event = None
        for secret in self.secrets.get(path, []):
            try:
                event = Webhook(secret).verify(body, headers)
                break
            except WebhookVerificationError:
                continue
        if event is None:
            with self._lock:
                self.forged.append(path)
            self._answer(request, 400)
            return
        time.sleep(self.delay.get(path, 0.0))
        with self._lock:
            self.deliveries.append(Delivery(path, headers["webhook-id"], event, time.monotonic()))
        self._answer(request, self.status.get(path, 200))

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int) -> None:
        with suppress(OSError):  # the sender may be gone (a killed worker)
            request.send_response(status)
            request.send_header("content-length", "2")
            request.end_headers()
            request.wfile.write(b"ok")

    def at(self, path: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.path == path]

    def ids(self, path: str) -> set[str]:
        return {d.webhook_id for d in self.at(path)}


@contextmanager
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.up()
    try:
        yield found
    finally:
        found.down()
    assert found.forged == [], f"deliveries failed signature verification: {found.forged}"


def tally_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_")}
    env.update(
        TALLY_DATABASE_URL=database_url,
        TALLY_ENV="development",
        TALLY_ALLOW_LOOPBACK_WEBHOOKS="true",
        TALLY_WEBHOOK_RETRY_SCHEDULE=FAST_RETRIES,
        TALLY_WORKER_POLL_SECONDS="0.05",
        TALLY_WEBHOOK_TIMEOUT_SECONDS="5",
        TALLY_LOG_LEVEL="info",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Process:
    """A ``tally`` process with its log; ``kill()`` is SIGKILL, ``stop()`` is SIGTERM."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                [str(TALLY), *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=20)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=20)
                raise AssertionError(f"process ignored SIGTERM; log:\n{self.log()}") from None


class Server(Process):
    def __init__(self, env: dict[str, str], log_path: Path, *args: str) -> None:
        self.port = free_port()
        super().__init__(["serve", "--port", str(self.port), *args], env, log_path)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(base_url=self.base_url, timeout=30)
        wait_for(self._healthy, timeout=60, what=f"tally serve to be healthy:\n{self.log()}")

    def _healthy(self) -> bool:
        if self.popen.poll() is not None:
            raise AssertionError(f"tally serve exited early; log:\n{self.log()}")
        try:
            return self.http.get("/health").status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        super().kill()
        self.http.close()

    def stop(self) -> None:
        self.http.close()
        super().stop()


@contextmanager
def serving(env: dict[str, str], log_dir: Path, *args: str) -> Iterator[Server]:
    server = Server(env, log_dir / f"serve-{time.monotonic_ns()}.log", *args)
    try:
        yield server
    finally:
        if server.popen.poll() is None:
            server.stop()


def query(database_url: str, sql: str) -> list[Any]:
    """Run one read query against the store (a short-lived connection of its own)."""

    async def run() -> list[Any]:
        db = Database(database_url)
        try:
            async with db.read() as conn:
                return list(await conn.execute(sa.text(sql)))
        finally:
            await db.dispose()

    return asyncio.run(run())


def new_wallet(http: httpx.Client, tag: str) -> str:
    ledger = http.post("/ledgers", json={"name": f"e2e {tag}"}).json()
    made = http.post("/balances", json={"ledger_id": ledger["ledger_id"], "currency": "USD"})
    return str(made.json()["balance_id"])


def add_endpoint(
    http: httpx.Client, hooks: Receiver, path: str, types: list[str] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"url": hooks.url(path), "description": f"e2e {path}"}
    if types is not None:
        body["event_types"] = types
    response = http.post("/webhooks/endpoints", json=body)
    assert response.status_code == 201, response.text
    created = dict(response.json())
    hooks.secrets[path] = [created["secret"]]
    return created
