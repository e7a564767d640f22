"""Blnk's official Python SDK against a real Tally server: bulk posting (atomic or not) and bulk
commit/void of inflight holds."""

from __future__ import annotations

from blnk_sdk import Blnk, BlnkErrorCode

from .blnk_support import failed, funded_pair, get_balance, ok


def _bulk_item(source: str, destination: str, amount: float, reference: str) -> dict[str, object]:
    return {
        "amount": amount,
        "precision": 100,
        "currency": "USD",
        "reference": reference,
        "description": "bulk item",
        "source": source,
        "destination": destination,
    }


def test_atomic_bulk_applies_all_or_nothing(blnk: Blnk, unique: str) -> None:
    source, destination = funded_pair(blnk, unique)
    good = ok(
        blnk.transactions.create_bulk(
            {
                "atomic": True,
                "skip_queue": True,
                "transactions": [
                    _bulk_item(source, destination, 10, f"bulk-a-{unique}"),
                    _bulk_item(source, destination, 15, f"bulk-b-{unique}"),
                ],
            }
        ),
        201,
    )
    assert good["batch_id"] and isinstance(good["status"], str)
    assert good["transaction_count"] == 2
    first = ok(blnk.transactions.get_by_reference(f"bulk-a-{unique}"))
    assert first["parent_transaction"] == good["batch_id"]
    assert get_balance(blnk, destination)["balance"] == 2500

    failed(
        blnk.transactions.create_bulk(
            {
                "atomic": True,
                "skip_queue": True,
                "transactions": [
                    _bulk_item(source, destination, 10, f"bulk-c-{unique}"),
                    _bulk_item(source, destination, 1000, f"bulk-d-{unique}"),
                ],
            }
        ),
        400,
        BlnkErrorCode.TXN_INSUFFICIENT_FUNDS,
    )
    assert get_balance(blnk, destination)["balance"] == 2500
    failed(blnk.transactions.get_by_reference(f"bulk-c-{unique}"), 404, BlnkErrorCode.TXN_NOT_FOUND)


def test_non_atomic_bulk_applies_what_it_can(blnk: Blnk, unique: str) -> None:
    source, destination = funded_pair(blnk, unique)
    result = ok(
        blnk.transactions.create_bulk(
            {
                "atomic": False,
                "skip_queue": True,
                "transactions": [
                    _bulk_item(source, destination, 10, f"nb-a-{unique}"),
                    _bulk_item(source, destination, 1000, f"nb-b-{unique}"),
                    _bulk_item(source, destination, 20, f"nb-c-{unique}"),
                ],
            }
        ),
        201,
    )
    assert result["batch_id"] and isinstance(result["status"], str)
    assert result["transaction_count"] == 2
    assert get_balance(blnk, destination)["balance"] == 3000
    ok(blnk.transactions.get_by_reference(f"nb-c-{unique}"))
    failed(blnk.transactions.get_by_reference(f"nb-b-{unique}"), 404, BlnkErrorCode.TXN_NOT_FOUND)


def test_bulk_inflight_then_bulk_commit_and_bulk_void(blnk: Blnk, unique: str) -> None:
    source, destination = funded_pair(blnk, unique)
    batch = ok(
        blnk.transactions.create_bulk(
            {
                "atomic": True,
                "inflight": True,
                "skip_queue": True,
                "transactions": [
                    _bulk_item(source, destination, 10, f"h1-{unique}"),
                    _bulk_item(source, destination, 20, f"h2-{unique}"),
                    _bulk_item(source, destination, 30, f"h3-{unique}"),
                ],
            }
        ),
        201,
    )
    assert batch["transaction_count"] == 3
    ids = [
        ok(blnk.transactions.get_by_reference(f"h{n}-{unique}"))["transaction_id"]
        for n in (1, 2, 3)
    ]
    assert get_balance(blnk, source)["inflight_debit_balance"] == 6000

    committed = ok(
        blnk.transactions.bulk_commit_inflight(
            {
                "transactions": [{"transaction_id": ids[0]}, {"transaction_id": ids[1]}],
                "skip_queue": True,
            }
        )
    )
    assert (committed["succeeded"], committed["failed"]) == (2, 0)
    assert [r["status"] for r in committed["results"]] == ["succeeded", "succeeded"]
    assert {r["transaction_id"] for r in committed["results"]} == set(ids[:2])

    voided = ok(
        blnk.transactions.bulk_void_inflight(
            {"transaction_ids": [ids[2], ids[0]], "skip_queue": True}
        )
    )
    assert (voided["succeeded"], voided["failed"]) == (1, 1)
    by_id = {r["transaction_id"]: r for r in voided["results"]}
    assert by_id[ids[2]]["status"] == "succeeded"
    assert by_id[ids[0]]["status"] == "failed"
    assert by_id[ids[0]]["code"] == BlnkErrorCode.TXN_ALREADY_COMMITTED

    source_after = get_balance(blnk, source)
    assert (source_after["balance"], source_after["inflight_debit_balance"]) == (7000, 0)
    assert get_balance(blnk, destination)["balance"] == 3000
