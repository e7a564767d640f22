"""Lists, filters and search over ledgers, balances, transactions and identities (pure).

Three ways in, one model out:
- ``GET /{entity}?<field>_<op>=<value>&limit=&offset=`` -> ``parse_query_params`` -> ``Query``
- ``POST /{entity}/filter`` (Blnk's filter body) -> ``parse_filter_body`` -> ``Query``
- ``POST /search/{collection}`` (Typesense parameters) -> ``parse_search`` -> ``SearchQuery``

A ``Filter`` is one comparison (``field op values``); a ``Group`` joins conditions with ``and`` or
``or`` (``query_model``). Fields and value types are in ``query_fields``, Typesense syntax in
``typesense``; ``tally.store.queries`` compiles the model to SQL.
Errors: an unknown field or operator, or a value of the wrong type, is ``BadRequest``
(``GEN_BAD_REQUEST``); a body of the wrong shape is ``ValidationFailed``; anything wrong in a
search is ``SearchQueryInvalid`` (``SRCH_QUERY_INVALID``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tally.core.errors import BadRequest, ValidationFailed

from . import typesense as ts
from .query_fields import (
    ENTITIES,
    ID_FIELDS,
    OPERATORS,
    FieldType,
    entity_fields,
    field_type,
    number_of,
    operators_for,
    sortable,
)
from .query_model import (
    NO_VALUE,
    Condition,
    Filter,
    Group,
    Query,
    SearchQuery,
    Sort,
    make_filter,
)
from .typesense import SearchQueryInvalid

DEFAULT_LIMITS = {"ledgers": 10, "balances": 10, "transactions": 20, "identities": 20}
MAX_LIST_LIMIT = 1000
FILTER_DEFAULT_LIMIT, FILTER_MAX_LIMIT = 20, 100
MAX_FILTERS, MAX_VALUE_CHARS = 20, 1000
MAX_PER_PAGE, MAX_SORT_FIELDS = 250, 3
RESERVED_PARAMS = frozenset({
    "page", "pagesize", "per_page", "limit", "offset", "sort", "order", "order_by", "order_dir",
    "logical_operator", "instance_id", "org_id", "sort_by", "sort_order",
})  # fmt: skip
DEFAULT_QUERY_BY = {
    "ledgers": ("name", "ledger_id"),
    "balances": ("balance_id", "indicator", "currency", "ledger_id", "identity_id"),
    "transactions": ("reference", "description", "transaction_id", "source", "destination",
                     "currency", "status", "parent_transaction"),
    "identities": ("first_name", "last_name", "other_names", "organization_name",
                   "email_address", "phone_number", "identity_id", "category", "city", "country"),
}  # fmt: skip
_COMPARATOR_OPS = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}

__all__ = [
    "ENTITIES",
    "Condition",
    "Filter",
    "Group",
    "Query",
    "SearchQuery",
    "SearchQueryInvalid",
    "Sort",
    "check_collection",
    "make_filter",
    "parse_filter_body",
    "parse_query_params",
    "parse_search",
]


# ---- GET lists -----------------------------------------------------------------------------


def parse_query_params(params: Mapping[str, str | list[str]], entity: str) -> Query:
    """``status_eq=APPLIED&created_at_gte=2026-01-01&limit=50`` -> ``Query``.

    A key is ``<field>_<op>``: the operator is the last ``_`` part (no operator has one), so the
    field is the longest name before it (``inflight_debit_balance_lt``). Keys without an operator
    suffix (``include``, ``with_queued``) and reserved keys are ignored. ``in`` values are
    comma-separated, ``between`` values are ``low|high``.
    """
    entity_fields(entity)
    lists = {key: value if isinstance(value, list) else [value] for key, value in params.items()}
    filters: list[Filter] = []
    for key, values in lists.items():
        split = None if key in RESERVED_PARAMS else _split_key(key)
        if split is None:
            continue
        for raw in values:
            if len(raw) > MAX_VALUE_CHARS:
                raise BadRequest(f"Invalid filter: {key} is longer than {MAX_VALUE_CHARS} chars")
            filters.append(make_filter(entity, split[0], split[1], _param_values(split[1], raw)))
    _check_count(len(filters))
    sort_by = _first(lists, "sort_by")
    return Query(
        filters=tuple(filters),
        logical_operator=_logical(_first(lists, "logical_operator")),
        limit=_param_int(lists, "limit", DEFAULT_LIMITS[entity], 1, MAX_LIST_LIMIT),
        offset=_param_int(lists, "offset", 0, 0, None),
        sort_by=sort_by if sort_by and sortable(entity, sort_by) else None,
        sort_order=_sort_order(_first(lists, "sort_order")),
    )


def _split_key(key: str) -> tuple[str, str] | None:
    field, sep, op = key.rpartition("_")
    op = op.lower()
    return (field, op) if sep and op in OPERATORS else None


def _param_values(op: str, raw: str) -> list[str]:
    if op in NO_VALUE:
        return []
    if op == "in":
        return [part.strip() for part in raw.split(",")]
    if op == "between":
        return raw.split("|")
    return [raw]


def _first(lists: Mapping[str, list[str]], key: str) -> str | None:
    values = lists.get(key)
    return values[0] if values else None


def _param_int(
    lists: Mapping[str, list[str]], key: str, default: int, low: int, high: int | None
) -> int:
    raw = _first(lists, key)
    if raw is None or not raw.strip():
        return default
    text = raw.strip()
    if not text.isdigit() or int(text) < low or (high is not None and int(text) > high):
        span = f"{low} to {high}" if high is not None else f"{low} or more"
        raise ValidationFailed(f"{key} must be a whole number from {span}; got {raw!r}")
    return int(text)


def _check_count(count: int) -> None:
    if count > MAX_FILTERS:
        raise BadRequest(f"Invalid filter: at most {MAX_FILTERS} filters; got {count}")


def _logical(value: object) -> str:
    if value is None or value == "":
        return "and"
    if isinstance(value, str) and value.strip().lower() in ("and", "or"):
        return value.strip().lower()
    raise ValidationFailed(
        f"invalid logical_operator {value!r}: must be 'and' or 'or'",
        details={"logical_operator": value},
    )


def _sort_order(value: object) -> str:
    if value is None or value == "":
        return "desc"
    if isinstance(value, str) and value.strip().lower() in ("asc", "desc"):
        return value.strip().lower()
    raise ValidationFailed(f"sort_order must be 'asc' or 'desc'; got {value!r}")


# ---- POST /{entity}/filter ---------------------------------------------------------------------


def parse_filter_body(body: Mapping[str, Any], entity: str) -> Query:
    """Blnk's filter body -> ``Query``. ``limit`` at or below 0 or above 100 becomes 20; an unknown
    ``sort_by`` is dropped (the default order applies)."""
    entity_fields(entity)
    if not isinstance(body, Mapping):
        raise ValidationFailed("the filter body must be a JSON object")
    raw = body.get("filters")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ValidationFailed("filters must be an array of {field, operator, value | values}")
    _check_count(len(raw))
    filters = tuple(_body_filter(entity, index, item) for index, item in enumerate(raw))
    limit = _body_int(body, "limit", FILTER_DEFAULT_LIMIT)
    sort_by = body.get("sort_by")
    if sort_by is not None and not isinstance(sort_by, str):
        raise ValidationFailed(f"sort_by must be a field name; got {sort_by!r}")
    include_count = body.get("include_count", False)
    if include_count is not None and not isinstance(include_count, bool):
        raise ValidationFailed(f"include_count must be true or false; got {include_count!r}")
    offset = _body_int(body, "offset", 0)
    if offset < 0:
        raise ValidationFailed(f"offset must be 0 or more; got {offset}")
    return Query(
        filters=filters,
        logical_operator=_logical(body.get("logical_operator")),
        limit=limit if 0 < limit <= FILTER_MAX_LIMIT else FILTER_DEFAULT_LIMIT,
        offset=offset,
        sort_by=sort_by.strip() if sort_by and sortable(entity, sort_by.strip()) else None,
        sort_order=_sort_order(body.get("sort_order")),
        include_count=bool(include_count),
    )


def _body_int(body: Mapping[str, Any], key: str, default: int) -> int:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{key} must be a whole number; got {value!r}")
    return value


def _body_filter(entity: str, index: int, item: object) -> Filter:
    where = f"filters[{index}]"
    if not isinstance(item, Mapping):
        raise ValidationFailed(f"{where} must be an object {{field, operator, value | values}}")
    field, operator = item.get("field"), item.get("operator")
    if not isinstance(field, str) or not field.strip():
        raise ValidationFailed(f"{where}.field is required", details={"index": index})
    if not isinstance(operator, str) or not operator.strip():
        raise ValidationFailed(f"{where}.operator is required", details={"index": index})
    op = operator.strip().lower()
    return make_filter(entity, field.strip(), op, _body_values(where, op, item))


def _body_values(where: str, op: str, item: Mapping[str, Any]) -> list[object]:
    if op in NO_VALUE:
        return []
    if op in ("in", "between"):
        values = item.get("values", item.get("value"))
        if isinstance(values, str):
            values = _param_values(op, values)
        if not isinstance(values, list):
            raise ValidationFailed(f"{where}: {op!r} needs a 'values' array")
        return list(values)
    if "value" in item:
        return [item["value"]]
    values = item.get("values")
    if isinstance(values, list) and len(values) == 1:
        return list(values)
    raise ValidationFailed(f"{where}: {op!r} needs a 'value'")


# ---- POST /search/{collection} -----------------------------------------------------------------


def parse_search(body: Mapping[str, Any], collection: str) -> SearchQuery:
    """Typesense search parameters -> ``SearchQuery``. Raises ``SearchQueryInvalid``."""
    check_collection(collection)
    if not isinstance(body, Mapping):
        raise SearchQueryInvalid("search parameters must be a JSON object")
    try:
        return _search(body, collection)
    except SearchQueryInvalid:
        raise
    except ValidationFailed as exc:
        raise SearchQueryInvalid(exc.message, details=exc.details) from None


def check_collection(collection: str) -> None:
    if collection not in ENTITIES:
        raise SearchQueryInvalid(
            f"unknown search collection {collection!r}: use ledgers, balances, transactions "
            "or identities",
            details={"collection": collection},
        )


def _search(body: Mapping[str, Any], collection: str) -> SearchQuery:
    q = body.get("q", "*")
    if not isinstance(q, str):
        raise SearchQueryInvalid(f"q must be a string ('*' for everything); got {q!r}")
    query_by = _query_by(collection, _text_param(body, "query_by"))
    filter_by = _text_param(body, "filter_by")
    expr = ts.parse_filter_by(filter_by)
    terms = () if q.strip() in ("", "*") else tuple(q.split())
    return SearchQuery(
        collection=collection,
        q=q,
        query_by=query_by,
        match=_match(terms, query_by),
        filter=None if expr is None else _condition(collection, expr),
        sort=_search_sort(collection, _text_param(body, "sort_by")),
        page=_search_int(body, "page", 1, None),
        per_page=_search_int(body, "per_page", 10, MAX_PER_PAGE),
        filter_by=filter_by,
        include_fields=ts.split_fields(_text_param(body, "include_fields")),
        exclude_fields=ts.split_fields(_text_param(body, "exclude_fields")),
    )


def _text_param(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SearchQueryInvalid(f"{key} must be a string; got {value!r}")
    return value


def _search_int(body: Mapping[str, Any], key: str, default: int, high: int | None) -> int:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SearchQueryInvalid(f"{key} must be a whole number of 1 or more; got {value!r}")
    if high is not None and value > high:
        raise SearchQueryInvalid(f"{key} must be at most {high}; got {value}")
    return value


def _alias(collection: str, field: str) -> str:
    return ID_FIELDS[collection] if field == "id" else field


def _query_by(collection: str, text: str) -> tuple[str, ...]:
    fields = tuple(_alias(collection, f) for f in ts.split_fields(text))
    for field in fields:
        kind = field_type(collection, field)
        if kind not in (FieldType.TEXT, FieldType.META) or "ilike" not in operators_for(
            collection, field
        ):
            raise SearchQueryInvalid(
                f"query_by: field {field!r} of {collection} cannot be searched as text",
                details={"field": field},
            )
    return fields or DEFAULT_QUERY_BY[collection]


def contains_pattern(text: str) -> str:
    """A LIKE pattern (escape ``\\``) matching ``text`` anywhere."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _match(terms: tuple[str, ...], fields: tuple[str, ...]) -> Condition | None:
    if not terms:
        return None
    per_term = tuple(
        Group("or", tuple(Filter(f, "ilike", (contains_pattern(term),)) for f in fields))
        for term in terms
    )
    return per_term[0] if len(per_term) == 1 else Group("and", per_term)


def _search_sort(collection: str, text: str) -> tuple[Sort, ...]:
    sorts = []
    for field, order in ts.parse_sort_by(text):
        if field == "_text_match":
            continue
        name = _alias(collection, field)
        if not sortable(collection, name):
            raise SearchQueryInvalid(
                f"sort_by: cannot sort {collection} by {field!r}", details={"field": field}
            )
        sorts.append(Sort(name, order))
    if len(sorts) > MAX_SORT_FIELDS:
        raise SearchQueryInvalid(f"sort_by: at most {MAX_SORT_FIELDS} fields")
    return tuple(sorts)


def _condition(collection: str, expr: ts.Expr) -> Condition:
    if isinstance(expr, ts.Junction):
        return Group(expr.logic, tuple(_condition(collection, part) for part in expr.parts))
    field = _alias(collection, expr.field)
    kind = field_type(collection, field)
    if expr.comparator in _COMPARATOR_OPS or expr.comparator == "!=":
        if any(item.upper is not None for item in expr.items):
            raise SearchQueryInvalid(f"filter_by: {expr.field}:{expr.comparator} takes no range")
        if expr.comparator != "!=":
            if expr.is_list:
                raise SearchQueryInvalid(
                    f"filter_by: {expr.field}:{expr.comparator} takes one value"
                )
            return make_filter(collection, field, _COMPARATOR_OPS[expr.comparator],
                               [expr.items[0].value])  # fmt: skip
        return _joined("and", [make_filter(collection, field, "ne", [i.value]) for i in expr.items])
    return _joined("or", _match_items(collection, field, kind, expr))


def _match_items(collection: str, field: str, kind: str, expr: ts.Clause) -> list[Condition]:
    """``field:=a`` is exact; ``field:a`` on text is a case-insensitive contains; lists are ORs."""
    parts: list[Condition] = []
    exact: list[str] = []
    for item in expr.items:
        if item.upper is not None:
            parts.append(make_filter(collection, field, "between", [item.value, item.upper]))
        elif expr.comparator == "" and _loose_text(collection, field, kind, item.value):
            parts.append(make_filter(collection, field, "ilike", [contains_pattern(item.value)]))
        else:
            exact.append(item.value)
    if exact:
        parts.append(make_filter(collection, field, "eq" if len(exact) == 1 else "in", exact))
    return parts


def _loose_text(collection: str, field: str, kind: str, value: str) -> bool:
    if "ilike" not in operators_for(collection, field):
        return False
    return kind == FieldType.TEXT or (kind == FieldType.META and number_of(value) is None)


def _joined(logic: str, parts: Sequence[Condition]) -> Condition:
    return parts[0] if len(parts) == 1 else Group(logic, tuple(parts))
