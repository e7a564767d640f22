"""The database's own limit: the baseline scripts, unchanged, run by pgbench on the same server.

For each script (``distinct``, ``hot``, ``batch100``) the schema is loaded afresh and pgbench runs
at each concurrency; the best tps counts. ``batch100`` moves 100 transfers per transaction, so its
transfers/s is 100 x its tps.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .common import BASELINES, PgTarget, arun, run

SCRIPTS = ("distinct", "hot", "batch100")
DATABASE = "tally_bench_pgbench"
_TPS = re.compile(r"tps = ([0-9.]+) \(without initial connection time\)")
_LATENCY = re.compile(r"latency average = ([0-9.]+) ms")


def run_pgbench(
    pg: PgTarget,
    *,
    seconds: int,
    concurrencies: tuple[int, ...] = (8, 16, 32),
    baselines: Path = BASELINES,
    log: Any = print,
) -> dict[str, Any]:
    arun(pg.recreate(DATABASE))
    results: dict[str, Any] = {}
    try:
        for script in SCRIPTS:
            runs = []
            for clients in concurrencies:
                _load_schema(pg, baselines)
                out = run(
                    [
                        "pgbench",
                        "-n",
                        "-M",
                        "prepared",
                        *pg.cli_args(),
                        "-d",
                        DATABASE,
                        "-f",
                        str(baselines / f"{script}.sql"),
                        "-c",
                        str(clients),
                        "-j",
                        "2",
                        "-T",
                        str(seconds),
                    ],
                    env=pg.cli_env(),
                    timeout=seconds * 4 + 60,
                )
                tps = float(_TPS.search(out).group(1))  # type: ignore[union-attr]
                latency = _LATENCY.search(out)
                runs.append(
                    {
                        "clients": clients,
                        "tps": round(tps, 1),
                        "latency_ms": float(latency.group(1)) if latency else None,
                    }
                )
                log(f"  pgbench {script:<8} -c {clients:<2}: {tps:9.1f} tps")
            best = max(runs, key=lambda r: r["tps"])
            results[script] = {
                "runs": runs,
                "best_tps": best["tps"],
                "best_clients": best["clients"],
            }
        results["batch100"]["transfers_per_s"] = round(results["batch100"]["best_tps"] * 100, 1)
    finally:
        arun(pg.drop(DATABASE))
    return results


def _load_schema(pg: PgTarget, baselines: Path) -> None:
    run(
        [
            "psql",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            *pg.cli_args(),
            "-d",
            DATABASE,
            "-f",
            str(baselines / "schema.sql"),
        ],
        env=pg.cli_env(),
    )
