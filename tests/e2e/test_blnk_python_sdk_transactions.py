"""Blnk's official Python SDK against a real Tally server: transactions, inflight holds, refunds,
and the error codes callers branch on. Bulk: ``test_blnk_python_sdk_bulk``."""

from __future__ import annotations

from blnk_sdk import Blnk, BlnkErrorCode

from .blnk_support import (
    ZERO_TIME,
    check_transaction,
    failed,
    funded_pair,
    get_balance,
    new_balance,
    new_ledger,
    ok,
    transfer,
)

UNKNOWN_TXN = "txn_00000000-0000-4000-8000-000000000000"


def test_applied_transaction_with_skip_queue_has_the_documented_fields(
    blnk: Blnk, unique: str
) -> None:
    source, destination = funded_pair(blnk, unique)
    txn = ok(
        transfer(
            blnk,
            source,
            destination,
            12.34,
            reference=f"pay-{unique}",
            meta_data={"order": unique},
            effective_date="2025-02-15T10:30:00Z",
        ),
        201,
    )
    check_transaction(txn)
    assert txn["status"] == "APPLIED"
    assert txn["amount"] == 12.34
    assert txn["precise_amount"] == 1234
    assert txn["precision"] == 100
    assert txn["currency"] == "USD"
    assert (txn["source"], txn["destination"]) == (source, destination)
    assert txn["reference"] == f"pay-{unique}"
    assert txn["description"] == "transfer"
    assert txn["parent_transaction"] == ""
    assert txn["effective_date"] == "2025-02-15T10:30:00Z"
    assert txn["scheduled_for"] == ZERO_TIME
    assert txn["inflight_expiry_date"] == ZERO_TIME
    assert txn["meta_data"] == {"order": unique}
    assert get_balance(blnk, source)["balance"] == 10000 - 1234
    assert get_balance(blnk, destination)["balance"] == 1234

    fetched = ok(blnk.transactions.get(txn["transaction_id"]))
    check_transaction(fetched)
    assert fetched["transaction_id"] == txn["transaction_id"]
    assert (fetched["reference"], fetched["currency"]) == (txn["reference"], "USD")
    assert fetched["hash"] == txn["hash"]


def test_reference_with_a_slash_and_a_space_is_found(blnk: Blnk, unique: str) -> None:
    source, destination = funded_pair(blnk, unique)
    reference = f"order/{unique} line 1"
    txn = ok(transfer(blnk, source, destination, 1, reference=reference), 201)
    found = ok(blnk.transactions.get_by_reference(reference))
    assert found["transaction_id"] == txn["transaction_id"]
    assert found["reference"] == reference
    failed(
        blnk.transactions.get_by_reference(f"missing/{unique} ref"),
        404,
        BlnkErrorCode.TXN_NOT_FOUND,
    )


def test_precise_amount_is_exact_for_large_values(blnk: Blnk, unique: str) -> None:
    ledger_id = new_ledger(blnk, f"big {unique}")
    destination = new_balance(blnk, ledger_id)
    txn = ok(
        blnk.transactions.create(
            {
                "precise_amount": 123456789012345678901,
                "precision": 100,
                "currency": "USD",
                "reference": f"big-{unique}",
                "description": "a very large credit",
                "source": "@World",
                "destination": destination,
                "allow_overdraft": True,
                "skip_queue": True,
            }
        ),
        201,
    )
    assert txn["precise_amount"] == 123456789012345678901
    assert get_balance(blnk, destination)["balance"] == 123456789012345678901


def test_inflight_hold_commit_in_full(blnk: Blnk, unique: str) -> None:
    source, destination = funded_pair(blnk, unique)
    hold = ok(
        transfer(blnk, source, destination, 40, reference=f"hold-{unique}", inflight=True), 201
    )
    check_transaction(hold)
    assert hold["status"] == "INFLIGHT"
    assert hold["inflight"] is True
    held = get_balance(blnk, source)
    assert (held["balance"], held["inflight_debit_balance"], held["inflight_balance"]) == (
        10000,
        4000,
        -4000,
    )
    assert get_balance(blnk, destination)["inflight_credit_balance"] == 4000

    commit = ok(
        blnk.transactions.update_status(
            hold["transaction_id"], {"status": "commit", "skip_queue": True}
        )
    )
    check_transaction(commit)
    assert commit["status"] == "APPLIED"
    assert commit["parent_transaction"] == hold["transaction_id"]
    assert commit["precise_amount"] == 4000
    after = get_balance(blnk, source)
    assert (after["balance"], after["inflight_debit_balance"]) == (6000, 0)
    assert get_balance(blnk, destination)["balance"] == 4000

    failed(
        blnk.transactions.update_status(hold["transaction_id"], {"status": "commit"}),
        409,
        BlnkErrorCode.TXN_ALREADY_COMMITTED,
    )
    failed(
        blnk.transactions.update_status(hold["transaction_id"], {"status": "void"}),
        409,
        BlnkErrorCode.TXN_ALREADY_COMMITTED,
    )


def test_partial_commits_by_amount_and_precise_amount_then_void(blnk: Blnk, unique: str) -> None:
    source, destination = funded_pair(blnk, unique)
    hold = ok(
        transfer(blnk, source, destination, 80, reference=f"hold-{unique}", inflight=True), 201
    )
    hold_id = hold["transaction_id"]

    by_amount = ok(
        blnk.transactions.update_status(
            hold_id, {"status": "commit", "amount": 30, "skip_queue": True}
        )
    )
    assert (by_amount["status"], by_amount["precise_amount"]) == ("APPLIED", 3000)
    assert by_amount["parent_transaction"] == hold_id
    by_precise = ok(
        blnk.transactions.update_status(
            hold_id, {"status": "commit", "precise_amount": 1000, "skip_queue": True}
        )
    )
    assert (by_precise["status"], by_precise["precise_amount"]) == ("APPLIED", 1000)
    middle = get_balance(blnk, source)
    assert (middle["balance"], middle["inflight_debit_balance"]) == (6000, 4000)
    # Available to spend during the hold = balance - inflight_debit_balance.
    assert middle["balance"] - middle["inflight_debit_balance"] == 2000

    failed(
        blnk.transactions.update_status(hold_id, {"status": "commit", "amount": 60}),
        400,
        BlnkErrorCode.TXN_COMMIT_AMOUNT_EXCEEDED,
    )
    failed(
        blnk.transactions.update_status(hold_id, {"status": "settle"}),
        400,
        BlnkErrorCode.TXN_INVALID_STATUS_ACTION,
    )

    void = ok(blnk.transactions.update_status(hold_id, {"status": "void", "skip_queue": True}))
    check_transaction(void)
    assert (void["status"], void["precise_amount"]) == ("VOID", 4000)
    assert void["parent_transaction"] == hold_id
    released = get_balance(blnk, source)
    assert (released["balance"], released["inflight_debit_balance"]) == (6000, 0)
    assert get_balance(blnk, destination)["balance"] == 4000

    failed(
        blnk.transactions.update_status(hold_id, {"status": "commit"}),
        409,
        BlnkErrorCode.TXN_ALREADY_VOIDED,
    )
    failed(
        blnk.transactions.update_status(hold_id, {"status": "void"}),
        409,
        BlnkErrorCode.TXN_ALREADY_VOIDED,
    )


def test_settling_something_that_is_not_a_hold(blnk: Blnk, unique: str) -> None:
    source, destination = funded_pair(blnk, unique)
    applied = ok(transfer(blnk, source, destination, 1, reference=f"plain-{unique}"), 201)
    failed(
        blnk.transactions.update_status(applied["transaction_id"], {"status": "commit"}),
        400,
        BlnkErrorCode.TXN_NOT_INFLIGHT,
    )
    unknown = blnk.transactions.update_status(UNKNOWN_TXN, {"status": "commit"})
    assert unknown.status in (400, 404), unknown
    assert unknown.error is not None
    assert unknown.error.code in (BlnkErrorCode.TXN_NOT_FOUND, BlnkErrorCode.TXN_NOT_INFLIGHT)


def test_refund_without_a_body_reverses_the_transaction_once(blnk: Blnk, unique: str) -> None:
    source, destination = funded_pair(blnk, unique)
    paid = ok(transfer(blnk, source, destination, 25, reference=f"refundable-{unique}"), 201)
    refund = ok(blnk.transactions.refund(paid["transaction_id"]), 201)
    check_transaction(refund)
    assert refund["transaction_id"] != paid["transaction_id"]
    assert refund["parent_transaction"] == paid["transaction_id"]
    assert refund["status"] == "APPLIED"
    assert (refund["source"], refund["destination"]) == (destination, source)
    assert refund["precise_amount"] == 2500
    assert get_balance(blnk, source)["balance"] == 10000
    assert get_balance(blnk, destination)["balance"] == 0

    failed(
        blnk.transactions.refund(paid["transaction_id"]), 409, BlnkErrorCode.TXN_ALREADY_REFUNDED
    )
    failed(blnk.transactions.refund(UNKNOWN_TXN), 404, BlnkErrorCode.TXN_NOT_FOUND)


def test_refund_with_description_and_meta_data(blnk: Blnk, unique: str) -> None:
    source, destination = funded_pair(blnk, unique)
    paid = ok(
        transfer(
            blnk,
            source,
            destination,
            10,
            reference=f"meta-refund-{unique}",
            meta_data={"order": unique},
        ),
        201,
    )
    refund = ok(
        blnk.transactions.refund(
            paid["transaction_id"],
            {
                "skip_queue": True,
                "description": "customer returned item",
                "meta_data": {"reason": "returned"},
            },
        ),
        201,
    )
    assert refund["status"] == "APPLIED"
    assert refund["description"] == "customer returned item"
    assert refund["meta_data"] == {"order": unique, "reason": "returned"}
    assert ok(blnk.transactions.get(refund["transaction_id"]))["description"] == (
        "customer returned item"
    )


def test_business_errors_change_nothing(blnk: Blnk, unique: str) -> None:
    source, destination = funded_pair(blnk, unique)
    ok(transfer(blnk, source, destination, 5, reference=f"once-{unique}"), 201)
    failed(
        transfer(blnk, source, destination, 5, reference=f"once-{unique}"),
        409,
        BlnkErrorCode.TXN_DUPLICATE_REFERENCE,
    )
    failed(
        transfer(blnk, source, destination, 500, reference=f"too-much-{unique}"),
        400,
        BlnkErrorCode.TXN_INSUFFICIENT_FUNDS,
    )
    same = transfer(blnk, source, source, 1, reference=f"self-{unique}")
    failed(same, 400, BlnkErrorCode.TXN_VALIDATION_ERROR)
    assert "source and destination cannot be the same balance" in same.message
    negative = transfer(blnk, source, destination, -5, reference=f"negative-{unique}")
    assert negative.status == 400, negative
    assert negative.error is not None and negative.error.code in (
        BlnkErrorCode.TXN_VALIDATION_ERROR,
        BlnkErrorCode.TXN_INVALID_AMOUNT,
    )
    failed(blnk.transactions.get(UNKNOWN_TXN), 404, BlnkErrorCode.TXN_NOT_FOUND)

    assert get_balance(blnk, source)["balance"] == 9500
    assert get_balance(blnk, destination)["balance"] == 500
    for reference in (f"too-much-{unique}", f"self-{unique}", f"negative-{unique}"):
        failed(blnk.transactions.get_by_reference(reference), 404, BlnkErrorCode.TXN_NOT_FOUND)
