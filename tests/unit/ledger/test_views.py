"""The wire shape of ledgers, balances and transactions: Blnk's field names and number forms."""

from __future__ import annotations

from datetime import UTC, datetime

from tally.core.ledger.records import (
    BalanceRecord,
    Kind,
    LedgerRecord,
    Status,
    TransactionRecord,
    transaction_hash,
)
from tally.core.ledger.views import balance_view, ledger_view, transaction_view

WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PRECISE_WHEN = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_a_ledger_shows_its_id_name_and_creation_time() -> None:
    view = ledger_view(LedgerRecord("ldg_1", "Loyalty points", WHEN, {"program": "gold"}))
    assert view == {
        "ledger_id": "ldg_1",
        "name": "Loyalty points",
        "created_at": "2026-03-01T12:00:00Z",
        "meta_data": {"program": "gold"},
    }


def test_a_balance_shows_all_six_amounts_as_plain_json_numbers() -> None:
    record = BalanceRecord(
        "bln_alice",
        "ldg_1",
        "USD",
        PRECISE_WHEN,
        identity_id="idt_alice",
        credit_balance=10_000,
        debit_balance=3_000,
        inflight_credit_balance=500,
        inflight_debit_balance=2_000,
        version=4,
    )
    view = balance_view(record)
    assert {
        k: view[k]
        for k in (
            "balance",
            "credit_balance",
            "debit_balance",
            "inflight_balance",
            "inflight_credit_balance",
            "inflight_debit_balance",
            "available_balance",
            "version",
        )
    } == {
        "balance": 7_000,
        "credit_balance": 10_000,
        "debit_balance": 3_000,
        "inflight_balance": -1_500,
        "inflight_credit_balance": 500,
        "inflight_debit_balance": 2_000,
        "available_balance": 5_000,
        "version": 4,
    }
    assert all(type(view[k]) is int for k in ("balance", "credit_balance", "available_balance"))
    assert view["created_at"] == "2026-03-01T12:00:00.123456Z"
    assert view["identity_id"] == "idt_alice" and view["indicator"] == ""
    assert view["inflight_expires_at"] == "0001-01-01T00:00:00Z"


def test_an_indicator_balance_names_its_indicator() -> None:
    view = balance_view(
        BalanceRecord(
            "bln_w", "general_ledger_id", "USD", WHEN, indicator="@World", allow_overdraft=True
        )
    )
    assert view["indicator"] == "@World" and view["allow_overdraft"] is True
    assert view["identity_id"] == ""


def test_a_balance_beyond_64_bits_is_shown_exactly() -> None:
    view = balance_view(
        BalanceRecord("bln_big", "ldg_1", "USD", WHEN, credit_balance=123456789012345678901)
    )
    assert view["balance"] == 123456789012345678901


def payment(**changes: object) -> TransactionRecord:
    record = TransactionRecord(
        transaction_id="txn_1",
        source="bln_alice",
        destination="bln_shop",
        reference="order-1",
        precise_amount=10050,
        precision=100,
        currency="USD",
        status=Status.APPLIED,
        kind=Kind.TRANSFER,
        created_at=WHEN,
        effective_date=WHEN,
        description="shoes",
    )
    for name, value in changes.items():
        setattr(record, name, value)
    return record


def test_a_transaction_shows_amount_precise_amount_and_the_exact_string() -> None:
    view = transaction_view(payment())
    assert view["amount"] == 100.5
    assert view["precise_amount"] == 10050
    assert view["amount_string"] == "100.5"
    assert view["precision"] == 100


def test_a_whole_amount_is_an_integer_on_the_wire() -> None:
    view = transaction_view(payment(precise_amount=10000))
    assert view["amount"] == 100 and type(view["amount"]) is int


def test_a_huge_amount_keeps_an_exact_string_even_when_the_float_cannot() -> None:
    view = transaction_view(payment(precise_amount=123456789012345678901))
    assert view["amount_string"] == "1234567890123456789.01"
    assert view["precise_amount"] == 123456789012345678901


def test_missing_times_and_parent_render_as_blnk_does() -> None:
    view = transaction_view(payment())
    assert view["parent_transaction"] == ""
    assert view["scheduled_for"] == "0001-01-01T00:00:00Z"
    assert view["inflight_expiry_date"] == "0001-01-01T00:00:00Z"
    assert view["created_at"] == view["effective_date"] == "2026-03-01T12:00:00Z"


def test_the_outcome_is_final_so_skip_queue_is_always_true() -> None:
    view = transaction_view(payment())
    assert view["skip_queue"] is True and view["status"] == "APPLIED" and view["kind"] == "transfer"


def test_the_overdraft_limit_is_shown_in_major_units() -> None:
    view = transaction_view(payment(allow_overdraft=True, overdraft_limit=5000))
    assert view["overdraft_limit"] == 50 and view["allow_overdraft"] is True


def test_the_hash_is_blnks_concatenation() -> None:
    record = payment()
    assert transaction_view(record)["hash"] == transaction_hash(
        10050, "order-1", "USD", "bln_alice", "bln_shop"
    )
    assert len(record.hash) == 64


def test_a_commit_names_its_hold_as_parent() -> None:
    view = transaction_view(payment(kind=Kind.COMMIT, parent_transaction="txn_hold"))
    assert view["parent_transaction"] == "txn_hold" and view["kind"] == "commit"


def test_the_view_lists_every_blnk_transaction_field() -> None:
    assert set(transaction_view(payment())) >= {
        "transaction_id",
        "parent_transaction",
        "amount",
        "amount_string",
        "precise_amount",
        "precision",
        "reference",
        "currency",
        "description",
        "status",
        "source",
        "destination",
        "hash",
        "allow_overdraft",
        "overdraft_limit",
        "inflight",
        "atomic",
        "skip_queue",
        "created_at",
        "effective_date",
        "scheduled_for",
        "inflight_expiry_date",
        "inflight_commit_date",
        "meta_data",
    }
