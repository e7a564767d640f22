"""Blnk's official Python SDK (blnk-python 1.6.0) against a real Tally server: ledgers, balances,
identities, metadata and their error codes. Transactions: ``test_blnk_python_sdk_transactions``;
lists, search and filter: ``test_blnk_python_sdk_search``."""

from __future__ import annotations

from blnk_sdk import Blnk, BlnkErrorCode

from .blnk_support import (
    ZERO_TIME,
    amounts,
    check_balance,
    check_ledger,
    failed,
    fund,
    get_balance,
    new_balance,
    new_ledger,
    ok,
)

UNKNOWN_LEDGER = "ldg_00000000-0000-4000-8000-000000000000"
UNKNOWN_BALANCE = "bln_00000000-0000-4000-8000-000000000000"
UNKNOWN_IDENTITY = "idt_00000000-0000-4000-8000-000000000000"


def test_health_reports_up(blnk: Blnk) -> None:
    assert ok(blnk.system.health()) == {"status": "UP"}


# ---- ledgers --------------------------------------------------------------------------------


def test_ledger_is_created_read_and_renamed(blnk: Blnk, unique: str) -> None:
    created = ok(
        blnk.ledgers.create({"name": f"Loyalty {unique}", "meta_data": {"project": "RetailStore"}}),
        201,
    )
    check_ledger(created)
    assert created["name"] == f"Loyalty {unique}"
    assert created["meta_data"] == {"project": "RetailStore"}

    fetched = ok(blnk.ledgers.get(created["ledger_id"]))
    check_ledger(fetched)
    assert fetched == created

    renamed = ok(blnk.ledgers.update(created["ledger_id"], {"name": f"Points {unique}"}))
    assert renamed["ledger_id"] == created["ledger_id"]
    assert renamed["name"] == f"Points {unique}"
    assert ok(blnk.ledgers.get(created["ledger_id"]))["name"] == f"Points {unique}"


def test_unknown_ledger_is_404_lgr_not_found(blnk: Blnk) -> None:
    failed(blnk.ledgers.get(UNKNOWN_LEDGER), 404, BlnkErrorCode.LGR_NOT_FOUND)
    failed(blnk.ledgers.update(UNKNOWN_LEDGER, {"name": "x"}), 404, BlnkErrorCode.LGR_NOT_FOUND)


def test_ledger_without_a_name_is_refused(blnk: Blnk) -> None:
    body = failed(blnk.ledgers.create({"name": ""}), 400, BlnkErrorCode.GEN_VALIDATION_ERROR)
    assert "name" in body["error"]


# ---- balances -------------------------------------------------------------------------------


def test_balance_is_created_with_every_field_at_zero(blnk: Blnk, unique: str) -> None:
    ledger_id = new_ledger(blnk, f"balances {unique}")
    created = ok(
        blnk.ledger_balances.create(
            {"ledger_id": ledger_id, "currency": "USD", "meta_data": {"customer": unique}}
        ),
        201,
    )
    check_balance(created)
    assert set(amounts(created).values()) == {0}
    assert created["ledger_id"] == ledger_id
    assert created["currency"] == "USD"
    assert created["identity_id"] == ""
    assert created["indicator"] == ""
    assert created["meta_data"] == {"customer": unique}
    assert created["inflight_expires_at"] == ZERO_TIME

    fetched = ok(blnk.ledger_balances.get(created["balance_id"]))
    check_balance(fetched)
    assert fetched["balance_id"] == created["balance_id"]
    assert amounts(fetched) == amounts(created)
    # The options the SDK knows are accepted (Tally's balances are always current).
    with_options = ok(
        blnk.ledger_balances.get(created["balance_id"], {"from_source": True, "with_queued": True})
    )
    assert with_options["balance_id"] == created["balance_id"]


def test_funding_moves_both_sides_and_bumps_the_version(blnk: Blnk, unique: str) -> None:
    ledger_id = new_ledger(blnk, f"funding {unique}")
    balance_id = new_balance(blnk, ledger_id)
    source = f"@Fund{unique}"
    txn = fund(blnk, balance_id, 100.5, reference=f"fund-{unique}", source=source)
    assert txn["status"] == "APPLIED"
    assert txn["precise_amount"] == 10050

    balance = get_balance(blnk, balance_id)
    assert balance["balance"] == 10050
    assert balance["credit_balance"] == 10050
    assert balance["debit_balance"] == 0
    assert balance["version"] >= 1

    indicator = ok(blnk.ledger_balances.get_by_indicator(source, "USD"))
    check_balance(indicator)
    assert indicator["indicator"] == source
    assert indicator["ledger_id"] == "general_ledger_id"
    assert indicator["balance"] == -10050
    assert indicator["debit_balance"] == 10050


def test_general_ledger_indicator_balance_and_duplicate_is_gen_conflict(
    blnk: Blnk, unique: str
) -> None:
    body = {"ledger_id": "general_ledger_id", "currency": "USD", "indicator": f"@SdkPy{unique}"}
    created = ok(blnk.ledger_balances.create(dict(body)), 201)
    check_balance(created)
    assert created["indicator"] == f"@SdkPy{unique}"
    assert created["ledger_id"] == "general_ledger_id"
    failed(blnk.ledger_balances.create(dict(body)), 409, BlnkErrorCode.GEN_CONFLICT)
    # The same indicator in another currency is a different balance.
    other = ok(blnk.ledger_balances.create({**body, "currency": "EUR"}), 201)
    assert other["balance_id"] != created["balance_id"]


def test_balance_errors(blnk: Blnk, unique: str) -> None:
    failed(blnk.ledger_balances.get(UNKNOWN_BALANCE), 404, BlnkErrorCode.BAL_NOT_FOUND)
    failed(
        blnk.ledger_balances.get_by_indicator(f"@Nobody{unique}", "USD"),
        404,
        BlnkErrorCode.BAL_NOT_FOUND,
    )
    unknown_ledger = blnk.ledger_balances.create({"ledger_id": UNKNOWN_LEDGER, "currency": "USD"})
    assert unknown_ledger.status == 400, unknown_ledger
    assert unknown_ledger.error is not None and unknown_ledger.error.code


def test_balance_at_a_moment_follows_effective_dates(blnk: Blnk, unique: str) -> None:
    ledger_id = new_ledger(blnk, f"history {unique}")
    balance_id = new_balance(blnk, ledger_id)
    ok(
        blnk.transactions.create(
            {
                "amount": 25,
                "precision": 100,
                "currency": "USD",
                "reference": f"backdated-{unique}",
                "description": "backdated credit",
                "source": "@World",
                "destination": balance_id,
                "allow_overdraft": True,
                "skip_queue": True,
                "effective_date": "2025-02-15T10:30:00Z",
            }
        ),
        201,
    )
    before = ok(blnk.ledger_balances.get_at(balance_id, {"timestamp": "2025-02-15T10:00:00Z"}))
    assert before["balance"]["balance"] == 0
    assert before["balance"]["balance_id"] == balance_id
    # An offset is percent-encoded by the SDK ("+" -> %2B): 11:30+01:00 is 10:30Z.
    at = ok(
        blnk.ledger_balances.get_at(
            balance_id, {"timestamp": "2025-02-15T11:30:00+01:00", "from_source": True}
        )
    )
    assert at["balance"] == {
        "balance": 2500,
        "credit_balance": 2500,
        "debit_balance": 0,
        "currency": "USD",
        "balance_id": balance_id,
    }
    assert {"timestamp", "from_source"} <= at.keys()
    failed(
        blnk.ledger_balances.get_at(UNKNOWN_BALANCE, {"timestamp": "2025-02-15T10:00:00Z"}),
        404,
        BlnkErrorCode.BAL_NOT_FOUND,
    )


# ---- identities -----------------------------------------------------------------------------


def _identity(blnk: Blnk, unique: str) -> dict[str, object]:
    data: dict[str, object] = ok(
        blnk.identity.create(
            {
                "identity_type": "individual",
                "first_name": "Alice",
                "last_name": f"Martin {unique}",
                "email_address": f"alice.{unique}@example.com",
                "gender": "female",
                "dob": "1990-01-15T00:00:00Z",
                "meta_data": {"tier": "gold"},
            }
        ),
        201,
    )
    return data


def test_identity_lifecycle_and_link_to_a_balance(blnk: Blnk, unique: str) -> None:
    identity = _identity(blnk, unique)
    identity_id = str(identity["identity_id"])
    assert identity_id.startswith("idt_")
    assert identity["first_name"] == "Alice"
    assert identity["dob"] == "1990-01-15T00:00:00Z"

    fetched = ok(blnk.identity.get(identity_id))
    assert fetched["email_address"] == f"alice.{unique}@example.com"
    assert fetched["meta_data"] == {"tier": "gold"}

    ok(blnk.identity.update(identity_id, {"identity_type": "individual", "first_name": "Alicia"}))
    assert ok(blnk.identity.get(identity_id))["first_name"] == "Alicia"

    ledger_id = new_ledger(blnk, f"identity {unique}")
    balance_id = new_balance(blnk, ledger_id)
    ok(blnk.ledger_balances.update_identity(balance_id, {"identity_id": identity_id}))
    assert get_balance(blnk, balance_id)["identity_id"] == identity_id

    created_linked = ok(
        blnk.ledger_balances.create(
            {"ledger_id": ledger_id, "currency": "EUR", "identity_id": identity_id}
        ),
        201,
    )
    assert created_linked["identity_id"] == identity_id


def test_identity_errors(blnk: Blnk, unique: str) -> None:
    failed(blnk.identity.get(UNKNOWN_IDENTITY), 404, BlnkErrorCode.IDT_NOT_FOUND)
    ledger_id = new_ledger(blnk, f"identity errors {unique}")
    balance_id = new_balance(blnk, ledger_id)
    missing = blnk.ledger_balances.update_identity(balance_id, {"identity_id": UNKNOWN_IDENTITY})
    assert missing.status == 404, missing
    assert missing.error is not None and missing.error.code == BlnkErrorCode.IDT_NOT_FOUND
    assert get_balance(blnk, balance_id)["identity_id"] == ""

    identity_id = str(_identity(blnk, unique)["identity_id"])
    ok(blnk.identity.delete(identity_id))
    failed(blnk.identity.get(identity_id), 404, BlnkErrorCode.IDT_NOT_FOUND)


# ---- metadata -------------------------------------------------------------------------------


def test_metadata_is_merged_on_ledgers_balances_transactions_and_identities(
    blnk: Blnk, unique: str
) -> None:
    ledger = ok(blnk.ledgers.create({"name": f"meta {unique}", "meta_data": {"a": 1}}), 201)
    ledger_id = ledger["ledger_id"]
    balance_id = new_balance(blnk, ledger_id, meta_data={"b": 1})
    txn = fund(blnk, balance_id, 1, reference=f"meta-{unique}")
    identity_id = str(_identity(blnk, unique)["identity_id"])

    merged = ok(blnk.metadata.update(ledger_id, {"meta_data": {"region": "eu"}}))
    assert merged["meta_data"] == {"a": 1, "region": "eu"}
    assert ok(blnk.ledgers.get(ledger_id))["meta_data"] == {"a": 1, "region": "eu"}

    merged = ok(blnk.metadata.update(balance_id, {"meta_data": {"b": 2, "c": "x"}}))
    assert merged["meta_data"] == {"b": 2, "c": "x"}
    fetched_balance = get_balance(blnk, balance_id)
    assert fetched_balance["meta_data"] == {"b": 2, "c": "x"}
    assert fetched_balance["balance"] == 100  # metadata never moves value

    merged = ok(blnk.metadata.update(txn["transaction_id"], {"meta_data": {"verified": True}}))
    assert merged["meta_data"] == {"verified": True}
    fetched_txn = ok(blnk.transactions.get(txn["transaction_id"]))
    assert fetched_txn["meta_data"] == {"verified": True}
    assert fetched_txn["precise_amount"] == 100
    assert fetched_txn["hash"] == txn["hash"]

    merged = ok(blnk.metadata.update(identity_id, {"meta_data": {"kyc": "done"}}))
    assert merged["meta_data"] == {"tier": "gold", "kyc": "done"}
    assert ok(blnk.identity.get(identity_id))["meta_data"] == {"tier": "gold", "kyc": "done"}


def test_metadata_on_an_unknown_entity_is_404(blnk: Blnk) -> None:
    resp = blnk.metadata.update(UNKNOWN_BALANCE, {"meta_data": {"x": 1}})
    assert resp.status == 404, resp
    assert resp.error is not None and resp.error.code


# ---- balance monitors -------------------------------------------------------------------------


def test_balance_monitors_are_created_listed_and_read(blnk: Blnk, unique: str) -> None:
    ledger_id = new_ledger(blnk, f"monitors {unique}")
    balance_id = new_balance(blnk, ledger_id)
    body = {
        "balance_id": balance_id,
        "condition": {"field": "balance", "operator": ">", "value": 1000, "precision": 100},
        "description": f"big balance {unique}",
        "call_back_url": "http://127.0.0.1:9/monitor",
    }
    created = ok(blnk.balance_monitor.create(body), 201)
    monitor_id = created["monitor_id"]
    assert monitor_id and created["balance_id"] == balance_id
    assert created["condition"]["operator"] == ">"

    fetched = ok(blnk.balance_monitor.get(monitor_id))
    assert (fetched["monitor_id"], fetched["balance_id"]) == (monitor_id, balance_id)
    listed = ok(blnk.balance_monitor.list())
    assert isinstance(listed, list)
    assert monitor_id in [m["monitor_id"] for m in listed]
    by_balance = ok(blnk.balance_monitor.list_by_balance_id(balance_id))
    assert [m["monitor_id"] for m in by_balance] == [monitor_id]

    missing = blnk.balance_monitor.get("mon_00000000-0000-4000-8000-000000000000")
    assert missing.status == 404, missing
    assert missing.error is not None and missing.error.code == BlnkErrorCode.BAL_MONITOR_NOT_FOUND
