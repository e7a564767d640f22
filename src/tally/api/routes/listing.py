"""Lists, filters and search over ledgers, balances, transactions and identities (Blnk-compatible).

- ``GET /{entity}``: a bare JSON array of the same objects ``GET /{entity}/{id}`` returns, newest
  first; ``limit``/``offset`` paging and ``<field>_<op>=<value>`` filters.
- ``POST /{entity}/filter``: Blnk's filter body; an array, or ``{"data", "total_count"}`` with
  ``include_count``.
- ``POST /search/{collection}`` and ``POST /multi-search``: Typesense's parameters and answer shape
  (documents carry Unix-second timestamps and, as Blnk indexes them, amounts as strings), served
  straight from the database, so a search sees every write the moment it is committed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.clock import parse_timestamp
from tally.core.errors import MalformedRequest, TallyError, ValidationFailed
from tally.core.ledger.query import (
    Query,
    SearchQuery,
    SearchQueryInvalid,
    check_collection,
    parse_filter_body,
    parse_query_params,
    parse_search,
)
from tally.core.ledger.query_fields import ID_FIELDS
from tally.core.ledger.views import balance_view, ledger_view, transaction_view
from tally.store.queries import SearchResult, list_entities, search_entities

from ..deps import services
from ..errors import envelope, status_for

AnyRequest = Request[Any, Any, Any]
VIEWS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "ledgers": ledger_view,
    "balances": balance_view,
    "transactions": transaction_view,
    "identities": dict,
}
MAX_SEARCHES = 50
_ZERO_TIME = "0001-01-01T00:00:00Z"
_TIME_KEYS = (
    "created_at", "effective_date", "scheduled_for", "inflight_expiry_date",
    "inflight_commit_date", "inflight_expires_at", "dob",
)  # fmt: skip
_STRING_AMOUNTS = {
    "balances": (
        "balance", "credit_balance", "debit_balance", "inflight_balance",
        "inflight_credit_balance", "inflight_debit_balance", "available_balance",
    ),
    "transactions": ("precise_amount",),
}  # fmt: skip

# ---- OpenAPI: these handlers read their own bodies, so each body is described here -------------


def _body_operation(description: str, example: dict[str, Any]) -> type[Operation]:
    @dataclass
    class BodyOperation(Operation):
        def __post_init__(self) -> None:
            schema = Schema(type=OpenAPIType.OBJECT, description=description)
            media = OpenAPIMediaType(schema=schema, example=example)
            self.request_body = RequestBody(
                content={"application/json": media}, description=description, required=True
            )

    return BodyOperation


FilterOperation = _body_operation(
    "Blnk's filter body. operator: eq ne gt gte lt lte in between like ilike isnull isnotnull; "
    "`in` and `between` take `values`, the others `value`; fields may be `meta_data.<key>`.",
    {
        "filters": [{"field": "status", "operator": "in", "values": ["APPLIED", "INFLIGHT"]}],
        "logical_operator": "and",
        "sort_by": "created_at",
        "sort_order": "desc",
        "limit": 20,
        "offset": 0,
        "include_count": True,
    },
)
SearchOperation = _body_operation(
    "Typesense search parameters: q ('*' for all), query_by, filter_by (field:=v, field:>=n, "
    "field:[a,b], field:[1..9], joined by && and ||), sort_by (field:asc|desc), page, per_page.",
    {"q": "*", "filter_by": "currency:=USD", "sort_by": "created_at:desc", "page": 1,
     "per_page": 10},
)  # fmt: skip
MultiSearchOperation = _body_operation(
    "Several searches in one request; each entry is a search with its `collection`.",
    {"searches": [{"collection": "balances", "q": "*"}]},
)

_LIMIT = Parameter(
    query="limit", default=None, required=False, description="Page size (1 to 1000)."
)
_OFFSET = Parameter(query="offset", default=None, required=False, description="Rows to skip.")
_LIST_DESCRIPTION = (
    "Newest first. Filters are query parameters `<field>_<op>=<value>` (ops eq ne gt gte lt lte "
    "in between like ilike isnull isnotnull; `in` is comma-separated, `between` is `low|high`), "
    "combined with `logical_operator=and|or`; `sort_by` and `sort_order` change the order."
)

# ---- shared steps ------------------------------------------------------------------------------


def json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 that says what is wrong with it."""
    if not body.strip():
        raise ValidationFailed("the request body is empty: send a JSON object")
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise MalformedRequest(f"Invalid input: the body is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValidationFailed(
            f"the request body must be a JSON object, not a JSON {type(data).__name__}"
        )
    return data


async def fetch(state: State, entity: str, query: Query) -> tuple[list[dict[str, Any]], int | None]:
    async with services(state).db.read() as conn:
        records, total = await list_entities(conn, entity, query)
    view = VIEWS[entity]
    return [view(record) for record in records], total


async def _list(request: AnyRequest, state: State, entity: str) -> list[dict[str, Any]]:
    query = parse_query_params(request.query_params.dict(), entity)
    views, _ = await fetch(state, entity, query)
    return views


async def _filter(request: AnyRequest, state: State, entity: str) -> Any:
    query = parse_filter_body(json_object(await request.body()), entity)
    views, total = await fetch(state, entity, query)
    return {"data": views, "total_count": total} if query.include_count else views


# ---- GET lists ---------------------------------------------------------------------------------


@get("/ledgers", tags=["ledgers"], summary="List ledgers", description=_LIST_DESCRIPTION)
async def list_ledgers(
    request: AnyRequest, state: State, limit: str | None = _LIMIT, offset: str | None = _OFFSET
) -> list[dict[str, Any]]:
    return await _list(request, state, "ledgers")


@get("/balances", tags=["balances"], summary="List balances", description=_LIST_DESCRIPTION)
async def list_balances(
    request: AnyRequest, state: State, limit: str | None = _LIMIT, offset: str | None = _OFFSET
) -> list[dict[str, Any]]:
    return await _list(request, state, "balances")


@get(
    "/transactions", tags=["transactions"], summary="List transactions",
    description=_LIST_DESCRIPTION,
)  # fmt: skip
async def list_transactions(
    request: AnyRequest, state: State, limit: str | None = _LIMIT, offset: str | None = _OFFSET
) -> list[dict[str, Any]]:
    return await _list(request, state, "transactions")


@get("/identities", tags=["identities"], summary="List identities", description=_LIST_DESCRIPTION)
async def list_identities(
    request: AnyRequest, state: State, limit: str | None = _LIMIT, offset: str | None = _OFFSET
) -> list[dict[str, Any]]:
    return await _list(request, state, "identities")


# ---- POST /{entity}/filter -----------------------------------------------------------------------


@post(
    "/ledgers/filter", status_code=200, tags=["ledgers"], summary="Filter ledgers",
    operation_class=FilterOperation,
)  # fmt: skip
async def filter_ledgers(request: AnyRequest, state: State) -> Any:
    return await _filter(request, state, "ledgers")


@post(
    "/balances/filter", status_code=200, tags=["balances"], summary="Filter balances",
    operation_class=FilterOperation,
)  # fmt: skip
async def filter_balances(request: AnyRequest, state: State) -> Any:
    return await _filter(request, state, "balances")


@post(
    "/transactions/filter", status_code=200, tags=["transactions"],
    summary="Filter transactions (balance_id matches either side; indicator either side's)",
    operation_class=FilterOperation,
)  # fmt: skip
async def filter_transactions(request: AnyRequest, state: State) -> Any:
    return await _filter(request, state, "transactions")


@post(
    "/identities/filter", status_code=200, tags=["identities"], summary="Filter identities",
    operation_class=FilterOperation,
)  # fmt: skip
async def filter_identities(request: AnyRequest, state: State) -> Any:
    return await _filter(request, state, "identities")


# ---- search ------------------------------------------------------------------------------------


@post(
    "/search/{collection:str}", status_code=200, tags=["search"],
    summary="Search a collection (ledgers, balances, transactions, identities), Typesense-style",
    operation_class=SearchOperation,
)  # fmt: skip
async def search(collection: str, request: AnyRequest, state: State) -> dict[str, Any]:
    check_collection(collection)  # an unknown collection is named before the body is read
    params = parse_search(json_object(await request.body()), collection)
    async with services(state).db.read() as conn:
        return await _run_search(conn, params)


@post(
    "/multi-search", status_code=200, tags=["search"],
    summary="Run several searches at once; each result or error is reported in its place",
    operation_class=MultiSearchOperation,
)  # fmt: skip
async def multi_search(request: AnyRequest, state: State) -> dict[str, Any]:
    searches = json_object(await request.body()).get("searches")
    if not isinstance(searches, list) or not searches:
        raise SearchQueryInvalid("searches must be a non-empty array of {collection, q, ...}")
    if len(searches) > MAX_SEARCHES:
        raise SearchQueryInvalid(
            f"at most {MAX_SEARCHES} searches per request; got {len(searches)}"
        )
    results = []
    async with services(state).db.read() as conn:
        for entry in searches:
            try:
                params = _multi_entry(entry)
            except TallyError as exc:
                results.append(_search_error(exc))
                continue
            results.append(await _run_search(conn, params))
    return {"results": results}


def _multi_entry(entry: object) -> SearchQuery:
    if not isinstance(entry, dict):
        raise SearchQueryInvalid("each search must be an object {collection, q, ...}")
    params = dict(entry)
    collection = params.pop("collection", None)
    if not isinstance(collection, str):
        raise SearchQueryInvalid("each search needs a collection")
    return parse_search(params, collection)


def _search_error(exc: TallyError) -> dict[str, Any]:
    return {"code": status_for(exc), **envelope(exc.code, exc.message, exc.details)}


async def _run_search(conn: AsyncConnection, params: SearchQuery) -> dict[str, Any]:
    started = time.perf_counter()
    result = await search_entities(conn, params)
    elapsed_ms = int((time.perf_counter() - started) * 1000)
    return search_response(params, result, elapsed_ms)


def search_response(params: SearchQuery, result: SearchResult, elapsed_ms: int) -> dict[str, Any]:
    """Typesense's answer shape."""
    view = VIEWS[params.collection]
    hits = [
        {
            "document": _fields(params, search_document(params.collection, view(record))),
            "highlight": {},
            "highlights": [],
            "text_match": 0,
        }
        for record in result.records
    ]
    return {
        "facet_counts": [],
        "found": result.found,
        "hits": hits,
        "out_of": result.out_of,
        "page": params.page,
        "request_params": {
            "collection_name": params.collection,
            "first_q": params.q,
            "per_page": params.per_page,
            "q": params.q,
        },
        "search_cutoff": False,
        "search_time_ms": elapsed_ms,
    }


def search_document(collection: str, view: dict[str, Any]) -> dict[str, Any]:
    """An object's view as Blnk's search index holds it: ``id``, Unix-second timestamps (0 when
    unset) and, for balances and transaction amounts, numbers as strings."""
    document = {"id": view[ID_FIELDS[collection]], **view}
    for key in _TIME_KEYS:
        if isinstance(document.get(key), str):
            document[key] = unix_seconds(document[key])
    for key in _STRING_AMOUNTS.get(collection, ()):
        if key in document:
            document[key] = str(document[key])
    return document


def unix_seconds(text: str) -> int:
    if text == _ZERO_TIME:
        return 0
    return math.floor(parse_timestamp(text).timestamp())


def _fields(params: SearchQuery, document: dict[str, Any]) -> dict[str, Any]:
    if params.include_fields:
        document = {k: v for k, v in document.items() if k in params.include_fields}
    return {k: v for k, v in document.items() if k not in params.exclude_fields}


ROUTES = [
    list_ledgers,
    list_balances,
    list_transactions,
    list_identities,
    filter_ledgers,
    filter_balances,
    filter_transactions,
    filter_identities,
    search,
    multi_search,
]
