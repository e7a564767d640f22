"""``make bench``: every benchmark in one run, each Tally figure as a ratio to its baseline.

    python -m bench.run                 # about 8 minutes on 2 cores
    python -m bench.run --quick         # shorter runs, to check the harness (figures are rough)
    python -m bench.run --full          # also 1,000,000 postings through the server (+ ~10 min)

Needs PostgreSQL (``--pg-url``, default ``TALLY_BENCH_PG_URL`` or postgres@127.0.0.1:5432; a
superuser, since it creates and drops its own databases ``tally_bench_*``), ``pgbench`` and
``psql`` (Debian: ``postgresql-client``; ``pgbench`` ships in ``postgresql-contrib`` or the
server package) and ``wrk`` (Debian: ``wrk``). It installs nothing.

Prints a table and writes JSON (``--out``, default ``bench/results/latest.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .common import DEFAULT_PG_URL, PgTarget, load_average, machine, require_tools
from .engine_bench import run_engine_benchmarks
from .http_bench import run_http
from .pgbench_baseline import run_pgbench

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
SCENARIOS = (
    "bench.loyalty",
    "bench.authorizations",
    "bench.webhooks",
)  # each module has main(argv) -> dict


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="a PostgreSQL superuser URL")
    parser.add_argument("--quick", action="store_true", help="short runs (harness check)")
    parser.add_argument(
        "--full",
        action="store_true",
        help="also drive the server to 1,000,000 postings (and run scenarios)",
    )
    parser.add_argument(
        "--scenarios",
        action="store_true",
        help="also run the loyalty, card-authorization and webhook-delivery scenarios",
    )
    parser.add_argument("--skip", default="", help="comma-separated: pgbench,http,engine")
    parser.add_argument("--workers", type=int, default=1, help="tally serve worker processes")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--balances", type=int, default=10_000)
    parser.add_argument(
        "--concurrency", type=int, default=1000, help="concurrent callers of the in-process engine"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    console = Console(highlight=False, width=max(Console().width, 120))
    missing = _missing_tools(skip)
    if missing:
        console.print(
            f"[red]missing tools: {', '.join(missing)}[/red] - install the Debian packages "
            "wrk and postgresql-client / postgresql-contrib (pgbench), or --skip what needs them"
        )
        return 2
    pg = PgTarget(args.pg_url)
    seconds = (
        {"pgbench": 5, "http": 8, "engine": 4}
        if args.quick
        else {"pgbench": 15, "http": 20, "engine": 10}
    )
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "postgresql": asyncio.run(pg.settings()),
        "options": {k: str(v) for k, v in vars(args).items()},
    }
    started = time.perf_counter()
    if "pgbench" not in skip:
        console.print("[bold]pgbench baselines[/bold] (best of 8/16/32 clients)")
        report["pgbench"] = run_pgbench(pg, seconds=seconds["pgbench"], log=console.print)
    if "http" not in skip:
        console.print(f"[bold]HTTP[/bold] (wrk, {args.connections} connections)")
        report["http"] = run_http(
            pg,
            seconds=seconds["http"],
            connections=args.connections,
            workers=args.workers,
            balances=args.balances,
            full=args.full,
            log=console.print,
        )
    if "engine" not in skip:
        console.print("[bold]in-process engine[/bold] (tally.Ledger)")
        report["engine"] = run_engine_benchmarks(
            pg,
            balances=args.balances,
            seconds=seconds["engine"],
            concurrency=args.concurrency,
            log=console.print,
        )
    if args.scenarios or args.full:
        report["scenarios"] = _scenarios(seconds["http"], console)
    report["load_average_at_end"] = load_average()
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["figures"] = figures(report)
    console.print(table(report["figures"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"written to {args.out} ({report['seconds']} s)")
    return 0


def _missing_tools(skip: set[str]) -> list[str]:
    needed = []
    if "pgbench" not in skip:
        needed += ["pgbench", "psql"]
    if "http" not in skip:
        needed.append("wrk")
    return require_tools(*needed)


def _scenarios(seconds: int, console: Console) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in SCENARIOS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        console.print(f"[bold]scenario {name}[/bold]")
        try:
            found[name] = module.main(["--duration", str(seconds)])
        except Exception as exc:  # a scenario's failure is reported, not fatal to the run
            found[name] = {"error": repr(exc)}
            console.print(f"[red]{name} failed: {exc!r}[/red]")
    return found


def figures(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with Tally's figure, its baseline from this run and the ratio."""
    base = report.get("pgbench", {})
    http = report.get("http", {})
    engine = report.get("engine", {})
    rows: list[dict[str, Any]] = []

    def add(name: str, value: Any, baseline: Any, target: str, met: bool | None) -> None:
        ratio = (value / baseline) if isinstance(value, int | float) and baseline else None
        rows.append(
            {
                "figure": name,
                "tally": value,
                "baseline": baseline,
                "ratio": round(ratio, 2) if ratio is not None else None,
                "target": target,
                "met": met,
            }
        )

    for mode, factor in (("distinct", 2.0), ("hot", 6.0)):
        if mode in http:
            value = http[mode]["transfers_per_s"]
            baseline = base.get(mode, {}).get("best_tps")
            add(
                f"HTTP {mode} transfers/s",
                value,
                baseline,
                f">= {factor}x pgbench {mode}.sql",
                value >= factor * baseline if baseline else None,
            )
    for mode in ("distinct", "hot"):
        if mode in http:
            p99 = http[mode]["p99_ms"]
            add(
                f"HTTP {mode} p99 ms ({http[mode]['connections']} conns)",
                p99,
                None,
                "<= 25 ms",
                p99 <= 25,
            )
    batch = base.get("batch100", {}).get("transfers_per_s")
    if "postgresql" in engine:
        value = engine["postgresql"]["distinct"]["postings_per_s"]
        add(
            "engine PostgreSQL postings/s",
            value,
            batch,
            ">= 25,000 (>= 0.35x batch100 x 100)",
            value >= 25_000 or (bool(batch) and value >= 0.35 * batch),
        )
    if "sqlite" in engine:
        value = engine["sqlite"]["distinct"]["postings_per_s"]
        add("engine SQLite postings/s", value, None, ">= 15,000", value >= 15_000)
    if http:
        rss = max(http.get(m, {}).get("rss_after_mb", 0) for m in ("distinct", "hot"))
        add("server RSS after the runs (MB)", rss, None, "<= 300 MB", rss <= 300)
    full = http.get("full")
    if full:
        add(
            f"server RSS after {full['postings_target']:,} postings (MB)",
            full["rss_after_mb"],
            None,
            "<= 300 MB",
            full["rss_after_mb"] <= 300,
        )
        with_rows = full["distinct_with_rows"]["transfers_per_s"]
        empty = http["distinct"]["transfers_per_s"]
        add(
            "distinct transfers/s with 1M rows vs empty",
            with_rows,
            empty,
            ">= 0.8x",
            with_rows >= 0.8 * empty,
        )
    checks = [http.get(m, {}).get("rows_match_201") for m in ("distinct", "hot") if m in http]
    if http:
        add("201 answers == rows written", all(checks), None, "equal", all(checks))
        verified = http.get("verify", {}).get("consistent")
        add("tally verify after the runs", verified, None, "passes", verified)
    for store in ("postgresql", "sqlite"):
        if store in engine:
            ok = engine[store].get("verify_consistent")
            add(f"verify after the engine runs ({store})", ok, None, "passes", ok)
    return rows


def table(rows: list[dict[str, Any]]) -> Table:
    out = Table(title="Tally benchmarks (ratios to baselines measured in this run)")
    for column in ("figure", "Tally", "baseline", "ratio", "target", "met"):
        out.add_column(column, justify="left" if column in ("figure", "target") else "right")
    for row in rows:
        met = {True: "[green]yes[/green]", False: "[red]no[/red]", None: "-"}[row["met"]]
        out.add_row(
            row["figure"],
            _fmt(row["tally"]),
            _fmt(row["baseline"]),
            _fmt(row["ratio"], "x"),
            row["target"],
            met,
        )
    return out


def _fmt(value: Any, suffix: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}{suffix}" if value < 100 else f"{value:,.0f}{suffix}"
    return f"{value:,}{suffix}" if isinstance(value, int) else str(value)


if __name__ == "__main__":
    sys.exit(main())
