"""A real ``tally serve`` process for end-to-end tests.

The server is the installed console script (next to the running interpreter), started on a free
port with its own database, polled on ``GET /health`` until it answers, and stopped with SIGTERM
(SIGKILL after a deadline). Its output goes to a log file that failing tests show.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

BIN_DIR = Path(sys.executable).parent
TALLY = BIN_DIR / "tally"
NODE_DIR = Path(__file__).parent / "node"
STARTUP_SECONDS = 60.0
SHUTDOWN_SECONDS = 20.0
LOG_TAIL_CHARS = 6000

# Servers running right now, so a failing test can show their logs.
RUNNING: list[TallyServer] = []


class ServerFailed(RuntimeError):
    """The server process did not start, died, or did not stop cleanly."""


class TallyServer:
    """A running ``tally serve`` process and where to reach it."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path
        self.base_url = f"http://127.0.0.1:{port}"

    def log(self, tail: int = LOG_TAIL_CHARS) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return text[-tail:]

    def alive(self) -> bool:
        return self.process.poll() is None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(database_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a server process: ours, minus any Tally settings, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_")}
    env.update(
        TALLY_DATABASE_URL=database_url,
        TALLY_ENV="development",
        TALLY_LOG_LEVEL="info",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


def _wait_healthy(server: TallyServer, deadline: float) -> None:
    last = "no answer yet"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not server.alive():
                raise ServerFailed(
                    f"tally serve exited with code {server.process.returncode} before it was "
                    f"healthy; its log:\n{server.log()}"
                )
            try:
                response = client.get(server.base_url + "/health")
                if response.status_code == 200 and response.json().get("status") == "UP":
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.TransportError as exc:
                last = repr(exc)
            time.sleep(0.1)
    raise ServerFailed(f"tally serve was not healthy in time (last: {last}); log:\n{server.log()}")


def stop(server: TallyServer) -> int:
    """SIGTERM, then SIGKILL after a deadline. Returns the exit code; raises if it was killed."""
    if not server.alive():
        return int(server.process.returncode)
    server.process.send_signal(signal.SIGTERM)
    try:
        return server.process.wait(timeout=SHUTDOWN_SECONDS)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=SHUTDOWN_SECONDS)
        raise ServerFailed(
            f"tally serve ignored SIGTERM for {SHUTDOWN_SECONDS}s and was killed; log:\n"
            f"{server.log()}"
        ) from None


def _start(args: list[str], env: dict[str, str], log_path: Path) -> TallyServer:
    port = free_port()
    log = log_path.open("wb")
    try:
        process = subprocess.Popen(
            [str(TALLY), "serve", "--port", str(port), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    finally:
        log.close()
    return TallyServer(process, port, log_path)


@contextmanager
def run_server(
    database_url: str,
    log_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    args: list[str] | None = None,
) -> Iterator[TallyServer]:
    """Start ``tally serve`` on a free port, wait for ``/health``, yield it, stop it cleanly."""
    server = None
    for attempt in range(3):  # a free port can be taken between picking it and binding it
        log_path = log_dir / f"tally-serve-{attempt}.log"
        server = _start(list(args or []), server_env(database_url, env), log_path)
        try:
            _wait_healthy(server, time.monotonic() + STARTUP_SECONDS)
            break
        except ServerFailed:
            stop_quietly(server)
            if "address already in use" not in server.log().lower() or attempt == 2:
                raise
    assert server is not None
    RUNNING.append(server)
    try:
        yield server
    finally:
        RUNNING.remove(server)
        code = stop(server)
    # uvicorn re-raises the signal it handled once it has shut down cleanly.
    if code not in (0, -signal.SIGTERM):
        raise ServerFailed(f"tally serve exited with code {code} on SIGTERM; log:\n{server.log()}")


def stop_quietly(server: TallyServer) -> None:
    with suppress(ServerFailed):
        stop(server)


def run_tally(
    args: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run a ``tally`` command to completion (it must exit by itself within ``timeout``)."""
    return subprocess.run(
        [str(TALLY), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def run_node(
    script: Path,
    env: Mapping[str, str],
    *,
    args: list[str] | None = None,
    timeout: float = 120.0,
) -> tuple[Any, subprocess.CompletedProcess[str]]:
    """Run a Node script from ``tests/e2e/node``; its last stdout line is a JSON document."""
    full_env = {**os.environ, **env}
    done = subprocess.run(
        ["node", str(script), *(args or [])],
        cwd=NODE_DIR,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        raise AssertionError(
            f"node {script.name} failed with code {done.returncode}\n"
            f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
        )
    return json.loads(lines[-1]), done
