"""The ledger CLI on both stores: `tally demo` fills a database with the loyalty-points flow, then
`tally ledgers`, `balances`, `transactions` and `verify` show it (exit codes and key output)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from tally.cli.ledger_views import major_units
from tally.cli.main import app


def tally(url: str, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--database-url", url], env={"COLUMNS": "250"})


def found(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match is not None, f"{pattern!r} not in:\n{text}"
    return match.group(1)


def lines_with(text: str, needle: str) -> list[int]:
    return [number for number, line in enumerate(text.splitlines()) if needle in line]


def test_demo_then_every_view_of_it(store_url: str) -> None:
    demo = tally(store_url, "demo")
    assert demo.exit_code == 0, demo.output
    ledger = found(r"Created ledger (ldg_\S+)", demo.output)
    alice = found(r"POINTS balance (bln_\S+)", demo.output)
    tag = found(r"tally transactions --balance (bln_\S+)", demo.output)
    assert tag == alice
    assert "Alice: balance 0, available 0, inflight 100 POINTS" in demo.output
    assert "Alice: balance 100, available 50, inflight -50 POINTS" in demo.output
    assert demo.output.rstrip().endswith("tally verify")

    ledgers = tally(store_url, "ledgers")
    assert ledgers.exit_code == 0, ledgers.output
    [row] = [line for line in ledgers.output.splitlines() if ledger in line]
    assert "Customer Loyalty Points Ledger" in row and " 1 " in row
    assert "2 of 2 ledgers" in ledgers.output  # with the general ledger

    in_ledger = tally(store_url, "balances", "--ledger", ledger)
    assert in_ledger.exit_code == 0, in_ledger.output
    [row] = [line for line in in_ledger.output.splitlines() if alice in line]
    assert re.search(r"POINTS\s*│\s*100 │\s*100 │\s*0 │", row), row
    assert "@Store" not in in_ledger.output
    assert "1 of 1 balances" in in_ledger.output

    store = tally(store_url, "balances", "--indicator", "@Store", "--currency", "POINTS")
    [row] = [line for line in store.output.splitlines() if "@Store" in line]
    assert re.search(r"POINTS\s*│\s*-100 │\s*-100 │\s*0 │", row), row
    assert "General Ledger" in store.output and "1 of 1 balances" in store.output
    assert "no balances match" in tally(store_url, "balances", "--currency", "EUR").output

    rows = tally(store_url, "transactions", "--balance", alice)
    assert rows.exit_code == 0, rows.output
    assert "4 of 4 transactions" in rows.output
    assert "APPLIED (commit)" in rows.output and "100 POINTS" in rows.output
    assert lines_with(rows.output, "VOID") < lines_with(rows.output, "APPLIED (commit)")
    held = tally(store_url, "transactions", "--status", "inflight")
    assert "2 of 2 transactions" in held.output
    assert (
        "2 of 2 transactions"
        in tally(store_url, "transactions", "--balance", alice, "--status", "INFLIGHT").output
    )
    newest = tally(store_url, "transactions", "--limit", "1")
    assert "1 of 4 transactions (newest first; raise --limit to see more)" in newest.output
    assert "VOID" in newest.output and "commit" not in newest.output

    verify = tally(store_url, "verify")
    assert verify.exit_code == 0, verify.output
    assert "2 balances, 4 transactions, 1 currency — all consistent" in verify.output
    report = json.loads(tally(store_url, "verify", "--json").output)
    assert report["consistent"] is True
    assert (report["balances"], report["transactions"], report["currencies"]) == (2, 4, ["POINTS"])


def test_the_demo_runs_again_on_the_same_database(store_url: str) -> None:
    assert tally(store_url, "demo").exit_code == 0
    again = tally(store_url, "demo")
    assert again.exit_code == 0, again.output

    verify = tally(store_url, "verify")
    assert verify.exit_code == 0, verify.output
    assert "3 balances, 8 transactions, 1 currency — all consistent" in verify.output
    assert "3 of 3 ledgers" in tally(store_url, "ledgers").output


def test_references_filter_transactions_exactly(store_url: str) -> None:
    demo = tally(store_url, "demo")
    purchase = found(r"(purchase-[0-9a-f]{8})", tally(store_url, "transactions").output)
    assert demo.exit_code == 0

    one = tally(store_url, "transactions", "--reference", purchase)

    assert "1 of 1 transactions" in one.output
    assert "INFLIGHT" in one.output and "@Store" in one.output
    assert (
        "no transactions match"
        in tally(store_url, "transactions", "--reference", "purchase").output
    )


def test_a_missing_or_empty_database_is_a_clear_error(tmp_path: Path) -> None:
    missing = tally(f"sqlite:///{tmp_path / 'absent.db'}", "balances")
    assert missing.exit_code == 2
    assert "there is no database at" in missing.output
    assert not (tmp_path / "absent.db").exists()

    (tmp_path / "empty.db").touch()
    empty = tally(f"sqlite:///{tmp_path / 'empty.db'}", "verify")
    assert empty.exit_code == 2
    assert "run `tally migrate` first" in empty.output

    unreachable = tally("postgresql://postgres@127.0.0.1:9/tally", "ledgers")
    assert unreachable.exit_code == 2
    assert "not reachable" in unreachable.output


def test_the_database_url_comes_from_the_environment(store_url: str) -> None:
    assert tally(store_url, "demo").exit_code == 0

    result = CliRunner().invoke(app, ["verify"], env={"TALLY_DATABASE_URL": store_url})

    assert result.exit_code == 0, result.output
    assert "4 transactions" in result.output


def test_amounts_show_in_major_units_of_their_precision() -> None:
    assert major_units(4250, 100) == "42.50"
    assert major_units(123456789, 100) == "1,234,567.89"
    assert major_units(100, 1) == "100"
    assert major_units(7, 1000) == "0.007"
    assert major_units(10**30 + 1, 100) == "10,000,000,000,000,000,000,000,000,000.01"
    assert major_units(-1050, 100) == "-10.50"
    assert major_units(25, 4) == "6.25"
    assert major_units(10**30 + 1, 4) == "250,000,000,000,000,000,000,000,000,000.25"
