"""``dry_run: true``: a 200 preview of what a request would do, in Blnk's preview shape.

Nothing changes: no row, no balance update, no event, and the reference stays free. Validation
still answers 400 first (the request is checked before it is previewed); a business refusal that
the real call would answer with a 4xx is a preview with ``would_apply: false`` and a ``rejection``
carrying the code the real call would return.

Amounts in ``balances`` and ``precise_amount`` are strings of minor units, as Blnk sends them.
"""

from __future__ import annotations

from typing import Any

from litestar import Response

from tally.core.errors import (
    InsufficientFunds,
    InvalidStatusAction,
    OverdraftLimitExceeded,
    TallyError,
)
from tally.core.ledger.amounts import major_number
from tally.core.ledger.balances import BalanceState
from tally.core.ledger.records import TransactionRecord
from tally.core.ledger.transfers import TransferPlan
from tally.store.engine import Commit, Post, PostingEngine, Preview, Refund, Void

FIELDS = (
    ("balance", "balance"),
    ("available", "available"),
    ("credit_balance", "credit_balance"),
    ("debit_balance", "debit_balance"),
    ("inflight_debit_balance", "inflight_debit_balance"),
    ("inflight_credit_balance", "inflight_credit_balance"),
    ("inflight_balance", "inflight_balance"),
)
SCHEDULED_NOTE = (
    "scheduled_for is in the future: the transaction would be stored as SCHEDULED and move "
    "nothing until it is due"
)


def ok(view: dict[str, Any]) -> Response[dict[str, Any]]:
    """Previews answer 200 whatever the outcome (the real call would answer 201 or a 4xx)."""
    return Response(view, status_code=200)


async def preview_transfer(engine: PostingEngine, plan: TransferPlan) -> Response[dict[str, Any]]:
    return ok(transfer_preview(plan, await engine.preview([Post(plan)])))


async def preview_bulk(
    engine: PostingEngine, plans: list[TransferPlan], *, atomic: bool
) -> Response[dict[str, Any]]:
    previews = await engine.preview_many([[Post(plan)] for plan in plans])
    return ok(bulk_preview(plans, previews, atomic=atomic))


async def preview_inflight(
    engine: PostingEngine,
    transaction_id: str,
    status: str | None,
    amount: Any,
    precise_amount: Any,
    meta_data: dict[str, Any] | None,
) -> Response[dict[str, Any]]:
    action = (status or "").strip().lower()
    if action == "commit":
        step: Commit | Void = Commit(transaction_id, amount, precise_amount, meta_data)
    elif action == "void":
        step = Void(transaction_id, meta_data)
    else:
        raise InvalidStatusAction(f"status must be 'commit' or 'void'; got {status!r}")
    return ok(settlement_preview(await engine.preview([step]), action))


async def preview_refund(engine: PostingEngine, step: Refund) -> Response[dict[str, Any]]:
    return ok(settlement_preview(await engine.preview([step]), "refund"))


def rejection(error: TallyError) -> dict[str, str]:
    if isinstance(error, OverdraftLimitExceeded):
        reason = "overdraft_limit"
    elif isinstance(error, InsufficientFunds):
        reason = "insufficient_funds"
    else:
        reason = "other"
    return {"code": error.code, "reason": reason, "message": error.message}


def transfer_preview(plan: TransferPlan, preview: Preview) -> dict[str, Any]:
    """The preview of ``POST /transactions`` (one plan, possibly split into legs)."""
    view = _head(preview, plan.reference, plan.currency, plan.total, plan.precision)
    view["balances"] = balances_view(preview)
    if plan.multi:
        view["legs"] = [
            {
                "identifier": leg.source if plan.sources else leg.destination,
                "role": "source" if plan.sources else "destination",
                "precise_amount": str(leg.amount),
                "amount": major_number(leg.amount, plan.precision),
            }
            for leg in plan.legs
        ]
    if plan.scheduled_for is not None:
        view["notes"] = [SCHEDULED_NOTE]
    return view


def settlement_preview(preview: Preview, operation: str | None) -> dict[str, Any]:
    """The preview of a commit, a void or a refund: the row it would write."""
    records = preview.records
    if records:
        first = records[0]
        total = sum(r.precise_amount for r in records)
        view = _head(preview, first.reference, first.currency, total, first.precision)
    else:
        view = {"dry_run": True, "would_apply": False}
        if preview.error is not None:
            view["rejection"] = rejection(preview.error)
    if operation is not None:
        view["operation"] = operation
    view["balances"] = balances_view(preview)
    if len(records) > 1:
        view["transactions"] = [_row(r) for r in records]
    return view


def bulk_preview(
    plans: list[TransferPlan], previews: list[Preview], *, atomic: bool
) -> dict[str, Any]:
    """Each item previewed after the ones before it (cumulative), as one batch would apply them."""
    results = [transfer_preview(p, pv) for p, pv in zip(plans, previews, strict=True)]
    overall = Preview(steps=[])
    for preview in previews:
        for key, state in preview.before.items():
            overall.before.setdefault(key, state)
        overall.after.update(preview.after)
        overall.virtual |= preview.virtual
        for key, role in preview.roles.items():
            overall.roles.setdefault(key, role)
    view: dict[str, Any] = {
        "dry_run": True,
        "would_apply": all(p.would_apply for p in previews),
        "cumulative": True,
        "atomic": atomic,
        "results": results,
        "balances": balances_view(overall),
    }
    if atomic and not view["would_apply"]:
        view["notes"] = ["atomic: one item would fail, so nothing in this batch would be applied"]
    return view


def balances_view(preview: Preview) -> list[dict[str, Any]]:
    roles = preview.roles
    out = []
    for key in sorted(preview.before, key=lambda k: (roles.get(k) != "source", k)):
        before, after = preview.before[key], preview.after.get(key, preview.before[key])
        item: dict[str, Any] = {
            "balance_id": _shown_id(before, key in preview.virtual),
            "role": roles.get(key, "source"),
            "currency": before.currency,
        }
        if key in preview.virtual:
            item["virtual"] = True
            item["indicator"] = before.indicator
        for name, attr in FIELDS:
            item[f"current_{name}"] = str(getattr(before, attr))
        for name, attr in FIELDS:
            item[f"resulting_{name}"] = str(getattr(after, attr))
        out.append(item)
    return out


def _head(
    preview: Preview, reference: str, currency: str, total: int, precision: int
) -> dict[str, Any]:
    view: dict[str, Any] = {"dry_run": True, "would_apply": preview.would_apply}
    if preview.error is not None:
        view["rejection"] = rejection(preview.error)
    elif preview.records:
        view["status"] = preview.records[0].status
    view.update(
        reference=reference,
        currency=currency,
        amount=major_number(total, precision),
        precise_amount=str(total),
        precision=precision,
    )
    return view


def _shown_id(state: BalanceState, virtual: bool) -> str:
    return (state.indicator or state.balance_id) if virtual else state.balance_id


def _row(record: TransactionRecord) -> dict[str, Any]:
    return {
        "reference": record.reference,
        "precise_amount": str(record.precise_amount),
        "amount": major_number(record.precise_amount, record.precision),
        "status": record.status,
        "source": record.source,
        "destination": record.destination,
    }
