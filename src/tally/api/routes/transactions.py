"""Transactions: post, inflight commit/void, refunds, bulk, lookups (Blnk-compatible)."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, get, post, put
from litestar.datastructures import State

from tally.core.errors import (
    BulkEmpty,
    BulkLimitExceeded,
    InvalidStatusAction,
    TallyError,
    TransactionInvalid,
)
from tally.core.ids import new_id
from tally.core.ledger.distribution import Share
from tally.core.ledger.records import TransactionRecord
from tally.core.ledger.transfers import TransferPlan, TransferRequest, plan_transfer
from tally.core.ledger.views import transaction_view
from tally.services import Services
from tally.store import ledger_repo as repo
from tally.store.engine import Refund

from .. import dry_run
from ..deps import decode_optional, services
from ..schemas import (
    BulkCommitIn,
    BulkIn,
    BulkVoidIn,
    InflightUpdateIn,
    LegIn,
    RefundIn,
    TransactionIn,
)

MAX_BULK = 10_000


def _shares(legs: list[LegIn] | None) -> list[Share] | None:
    if not legs:
        return None
    return [Share(leg.identifier, leg.distribution, leg.precise_distribution) for leg in legs]


def to_request(data: TransactionIn) -> TransferRequest:
    return TransferRequest(
        currency=data.currency,
        reference=data.reference,
        description=data.description,
        amount=data.amount,
        precise_amount=data.precise_amount,
        precision=data.precision,
        source=data.source,
        destination=data.destination,
        sources=_shares(data.sources),
        destinations=_shares(data.destinations),
        allow_overdraft=data.allow_overdraft,
        overdraft_limit=data.overdraft_limit,
        inflight=data.inflight,
        atomic=data.atomic,
        meta_data=data.meta_data,
        effective_date=data.effective_date,
        scheduled_for=data.scheduled_for,
        inflight_expiry_date=data.inflight_expiry_date,
    )


def plan_view(plan: TransferPlan, records: list[TransactionRecord]) -> dict[str, Any]:
    """The response to a post: the row itself, or for a split, the request with its legs."""
    if not plan.multi:
        return transaction_view(records[0])
    view = transaction_view(records[0])
    legs = [
        {
            "identifier": r.source if plan.sources else r.destination,
            "transaction_id": r.transaction_id,
            "reference": r.reference,
            "precise_amount": r.precise_amount,
            "amount": transaction_view(r)["amount"],
        }
        for r in records
    ]
    view.update(
        transaction_id=plan.transaction_id,
        parent_transaction="",
        reference=plan.reference,
        precise_amount=plan.total,
        amount=transaction_view(_with_amount(records[0], plan.total))["amount"],
        amount_string=transaction_view(_with_amount(records[0], plan.total))["amount_string"],
        source=plan.source or "",
        destination=plan.destination or "",
        sources=legs if plan.sources else None,
        destinations=legs if plan.destinations else None,
    )
    return view


def _with_amount(record: TransactionRecord, amount: int) -> TransactionRecord:
    return TransactionRecord(
        record.transaction_id,
        record.source,
        record.destination,
        record.reference,
        amount,
        record.precision,
        record.currency,
        record.status,
        record.kind,
        record.created_at,
        record.effective_date,
        hash=record.hash,
    )


@post(
    "/transactions",
    status_code=201,
    tags=["transactions"],
    summary="Post a transaction (applied or held at once; the answer is final)",
)
async def create_transaction(data: TransactionIn, state: State) -> Any:
    svc = services(state)
    plan = plan_for(svc, data)
    if data.dry_run:
        return await dry_run.preview_transfer(svc.engine, plan)
    return await post_plan(svc, plan)


def plan_for(svc: Services, data: TransactionIn) -> TransferPlan:
    """``POST /transactions``' checks (shared with ``api.fastpath``, which answers it too)."""
    return plan_transfer(to_request(data), now=svc.clock.now())


async def post_plan(svc: Services, plan: TransferPlan) -> dict[str, Any]:
    """Post a checked request and answer with its view (shared with ``api.fastpath``)."""
    records = await svc.engine.post(plan)
    return plan_view(plan, records)


@get("/transactions/{transaction_id:str}", tags=["transactions"], summary="Get a transaction")
async def get_transaction(transaction_id: str, state: State) -> dict[str, Any]:
    async with services(state).db.read() as conn:
        return transaction_view(await repo.get_transaction(conn, transaction_id))


@get(
    "/transactions/reference/{reference:path}",
    tags=["transactions"],
    summary="Get a transaction by its reference",
)
async def get_by_reference(reference: str, state: State) -> dict[str, Any]:
    async with services(state).db.read() as conn:
        return transaction_view(
            await repo.get_transaction_by_reference(conn, reference.lstrip("/"))
        )


@put(
    "/transactions/inflight/{transaction_id:str}",
    tags=["transactions"],
    summary="Commit (fully or partly) or void an inflight hold",
)
async def update_inflight(transaction_id: str, data: InflightUpdateIn, state: State) -> Any:
    svc = services(state)
    if data.dry_run:
        return await dry_run.preview_inflight(
            svc.engine,
            transaction_id,
            data.status,
            data.amount,
            data.precise_amount,
            data.meta_data,
        )
    return await settle_inflight(svc, transaction_id, data)


async def settle_inflight(
    svc: Services, transaction_id: str, data: InflightUpdateIn
) -> dict[str, Any]:
    """Commit or void a hold and answer with its view (shared with ``api.fastpath``)."""
    records = await _settle(
        svc, transaction_id, data.status, data.amount, data.precise_amount, data.meta_data
    )
    return (
        transaction_view(records[0])
        if len(records) == 1
        else {
            **transaction_view(records[0]),
            "transactions": [transaction_view(r) for r in records],
        }
    )


async def _settle(
    svc: Services,
    transaction_id: str,
    status: str | None,
    amount: Any,
    precise_amount: Any,
    meta: dict[str, Any] | None,
) -> list[TransactionRecord]:
    action = (status or "").strip().lower()
    if action == "commit":
        return await svc.engine.commit(
            transaction_id, amount=amount, precise_amount=precise_amount, meta_data=meta
        )
    if action == "void":
        return await svc.engine.void(transaction_id, meta_data=meta)
    raise InvalidStatusAction(f"status must be 'commit' or 'void'; got {status!r}")


@post(
    "/transactions/inflight/bulk/commit",
    status_code=200,
    tags=["transactions"],
    summary="Commit up to 100 holds; each reports its own outcome",
)
async def bulk_commit(data: BulkCommitIn, state: State) -> dict[str, Any]:
    svc = services(state)
    _check_size(len(data.transactions), 100)
    jobs = [
        _settle(svc, item.transaction_id, "commit", item.amount, item.precise_amount, None)
        for item in data.transactions
    ]
    ids = [item.transaction_id for item in data.transactions]
    return await _bulk_results(ids, jobs)


@post(
    "/transactions/inflight/bulk/void",
    status_code=200,
    tags=["transactions"],
    summary="Void up to 100 holds; each reports its own outcome",
)
async def bulk_void(data: BulkVoidIn, state: State) -> dict[str, Any]:
    svc = services(state)
    _check_size(len(data.transaction_ids), 100)
    jobs = [_settle(svc, tid, "void", None, None, None) for tid in data.transaction_ids]
    return await _bulk_results(data.transaction_ids, jobs)


def _check_size(count: int, limit: int) -> None:
    if count == 0:
        raise BulkEmpty("the request has no transactions")
    if count > limit:
        raise BulkLimitExceeded(f"at most {limit} transactions per request; got {count}")


async def _bulk_results(ids: list[str], jobs: list[Any]) -> dict[str, Any]:
    outcomes = await asyncio.gather(*jobs, return_exceptions=True)
    results = []
    for tid, outcome in zip(ids, outcomes, strict=True):
        if isinstance(outcome, TallyError):
            results.append(
                {
                    "transaction_id": tid,
                    "status": "failed",
                    "code": outcome.code,
                    "message": outcome.message,
                }
            )
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            results.append(
                {
                    "transaction_id": tid,
                    "status": "succeeded",
                    "result_transaction_id": outcome[0].transaction_id,
                }
            )
    failed = sum(1 for r in results if r["status"] == "failed")
    return {"succeeded": len(results) - failed, "failed": failed, "results": results}


@post(
    "/transactions/bulk",
    status_code=201,
    tags=["transactions"],
    summary="Post many transactions: atomic (all or nothing, one database transaction) or not",
)
async def create_bulk(data: BulkIn, state: State) -> Any:
    svc = services(state)
    items = data.transactions or []
    _check_size(len(items), MAX_BULK)
    batch_id = new_id("bulk")
    now = svc.clock.now()
    plans = []
    for index, item in enumerate(items):
        request = to_request(item)
        if data.inflight:
            request.inflight = True
        try:
            plan = plan_transfer(request, now=now)
        except TallyError as exc:
            raise TransactionInvalid(
                f"transactions[{index}]: {exc.message}", details={"index": index, "code": exc.code}
            ) from None
        plan.parent_transaction = batch_id
        plan.meta_data = {**plan.meta_data, "sequence": index + 1}
        plans.append(plan)
    if data.dry_run:
        return await dry_run.preview_bulk(svc.engine, plans, atomic=data.atomic)
    status = "inflight" if data.inflight else "applied"
    if data.atomic:
        try:
            records = await svc.engine.post_atomic(plans)
        except TallyError as exc:
            exc.message = f"{exc.message}. Nothing in this batch was applied."
            exc.details = {"batch_id": batch_id}
            raise
        return {"batch_id": batch_id, "status": status, "transaction_count": len(records)}
    outcomes = await asyncio.gather(*[svc.engine.post(p) for p in plans], return_exceptions=True)
    results = []
    for index, (plan, outcome) in enumerate(zip(plans, outcomes, strict=True)):
        if isinstance(outcome, TallyError):
            results.append(
                {
                    "index": index,
                    "reference": plan.reference,
                    "status": "failed",
                    "code": outcome.code,
                    "message": outcome.message,
                }
            )
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            results.append(
                {
                    "index": index,
                    "reference": plan.reference,
                    "status": outcome[0].status.lower(),
                    "transaction_id": plan.transaction_id,
                }
            )
    failed = sum(1 for r in results if r["status"] == "failed")
    overall = status if failed == 0 else ("failed" if failed == len(results) else "partial")
    return {
        "batch_id": batch_id,
        "status": overall,
        "transaction_count": len(results) - failed,
        "failed_count": failed,
        "results": results,
    }


@post(
    "/refund-transaction/{transaction_id:str}",
    status_code=201,
    tags=["transactions"],
    summary="Refund an applied transaction (once)",
)
async def refund_transaction(
    transaction_id: str, request: Request[Any, Any, Any], state: State
) -> Any:
    svc = services(state)
    options = decode_optional(await request.body(), RefundIn) or RefundIn()
    if options.dry_run:
        return await dry_run.preview_refund(
            svc.engine,
            Refund(transaction_id, options.description, options.meta_data, options.allow_overdraft),
        )
    records = await svc.engine.refund(
        transaction_id,
        description=options.description,
        meta_data=options.meta_data,
        allow_overdraft=options.allow_overdraft,
    )
    view = transaction_view(records[0])
    if len(records) > 1:
        view["transactions"] = [transaction_view(r) for r in records]
    return view


ROUTES = [
    create_transaction,
    get_transaction,
    get_by_reference,
    update_inflight,
    bulk_commit,
    bulk_void,
    create_bulk,
    refund_transaction,
]
