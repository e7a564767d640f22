"""What every benchmark shares: PostgreSQL admin, process memory, machine facts, waiting."""

from __future__ import annotations

import asyncio
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import sqlalchemy as sa

from tally.store.database import Database

ROOT = Path(__file__).resolve().parent.parent
BASELINES = Path(__file__).resolve().parent / "baselines" / "pgbench-ledger"
DEFAULT_PG_URL = os.environ.get(
    "TALLY_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@dataclass(frozen=True)
class PgTarget:
    """Where PostgreSQL is: an admin URL (any database) and the parts command-line tools need."""

    admin_url: str

    def url(self, database: str) -> str:
        return urlparse(self.admin_url)._replace(path=f"/{database}").geturl()

    def cli_args(self) -> list[str]:
        parsed = urlparse(self.admin_url)
        host, port = parsed.hostname or "127.0.0.1", str(parsed.port or 5432)
        return ["-h", host, "-p", port, "-U", parsed.username or "postgres"]

    def cli_env(self) -> dict[str, str]:
        env = dict(os.environ)
        password = urlparse(self.admin_url).password
        if password:
            env["PGPASSWORD"] = password
        return env

    async def recreate(self, database: str) -> str:
        """Drop and create ``database``; returns its URL."""
        await self._admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await self._admin(f'CREATE DATABASE "{database}"')
        return self.url(database)

    async def drop(self, database: str) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    async def settings(self) -> dict[str, str]:
        names = [
            "server_version",
            "shared_buffers",
            "synchronous_commit",
            "fsync",
            "max_connections",
        ]
        db = Database(self.admin_url)
        try:
            async with db.read() as conn:
                return {
                    name: str((await conn.execute(sa.text(f"SHOW {name}"))).scalar())
                    for name in names
                }
        finally:
            await db.dispose()

    async def _admin(self, sql: str) -> None:
        db = Database(self.admin_url)
        try:
            async with db.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(sa.text(sql))
        finally:
            await db.dispose()


async def analyze(url: str) -> None:
    """Refresh the planner's statistics after a benchmark's setup, as autovacuum would.

    A database loaded a second ago has no statistics yet, and the planner guesses (a hash join
    over a whole table where an index lookup of a few rows is right). A live system's
    autovacuum analyzes within a minute of a bulk load; a benchmark that starts at once would
    measure that guess instead of the steady state.
    """
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text("ANALYZE"))
    finally:
        await db.dispose()


def require_tools(*names: str) -> list[str]:
    """The tools (``pgbench``, ``wrk``) that are missing from PATH."""
    return [name for name in names if shutil.which(name) is None]


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and its children (uvicorn workers), from /proc."""
    total = 0
    for proc in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{proc}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        listed = task / "children"
        if listed.exists():
            found += [int(c) for c in listed.read_text().split()]
    return found + [grand for child in found for grand in children(child)]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes, from /proc (0 for those that are gone)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except FileNotFoundError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def wait_until(check: Callable[[], bool], *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise TimeoutError(f"timed out after {seconds}s waiting for {what}")


def run(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run a command and return its stdout; raise with its stderr when it fails."""
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd[:3])} ... failed ({done.returncode}): {done.stderr[-2000:]}"
        )
    return done.stdout


def arun(coro: Any) -> Any:
    return asyncio.run(coro)


def run_wrk_script(
    base: str, lua: str, script: Path, *, duration: int, connections: int, threads: int
) -> dict[str, Any]:
    """Run ``wrk`` with the Lua ``lua`` (written to ``script``) and parse its summary."""
    script.write_text(lua)
    command = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{duration}s",
        "--latency",
        "-s",
        str(script),
        base,
    ]
    text = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return parse_wrk_summary(text)


def run_wrk_over_ids(
    base: str, lua: str, ids: list[str], *, duration: int, connections: int, threads: int
) -> dict[str, Any]:
    """Run ``wrk`` with a Lua template whose ``%(ids)s`` names a file of ``ids``, one a line."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ids.txt"
        path.write_text("\n".join(ids) + "\n")
        return run_wrk_script(
            base,
            lua % {"ids": path},
            path.with_suffix(".lua"),
            duration=duration,
            connections=connections,
            threads=threads,
        )


async def warm_up(
    url: str, base: str, lua: str, ids: list[str], *, connections: int, threads: int
) -> None:
    """A few seconds of the scenario's own load, then ``ANALYZE``: the measured run starts
    from the steady state (tables holding rows, statistics that say so, prepared plans made
    with them), not from the first seconds after an empty database was loaded."""
    await asyncio.to_thread(
        run_wrk_over_ids, base, lua, ids, duration=5, connections=connections, threads=threads
    )
    await analyze(url)


def parse_wrk_summary(text: str) -> dict[str, Any]:
    def find(pattern: str) -> str | None:
        match = re.search(pattern, text, re.MULTILINE)
        return match.group(1) if match else None

    return {
        "wrk_requests_per_second": float(find(r"Requests/sec:\s+([\d.]+)") or 0),
        "wrk_requests": int(find(r"(\d+) requests in") or 0),
        "non_2xx": int(find(r"Non-2xx or 3xx responses:\s+(\d+)") or 0),
        # The "Latency Distribution" block: a line of its own per percentile (the thread
        # statistics above it end in a "+/- Stdev" column such as "70.50%").
        "latency_p50": find(r"^\s+50%\s+(\S+)$"),
        "latency_p99": find(r"^\s+99%\s+(\S+)$"),
        "socket_errors": find(r"Socket errors: (.*)"),
    }


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """Stop ``tally serve`` gracefully: it finishes the requests it accepted (its engine drains
    its queue) before it exits, so what the database holds afterwards is final."""
    if server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
