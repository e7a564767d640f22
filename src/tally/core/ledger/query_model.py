"""The query model shared by lists, filters and search: ``Filter``, ``Group``, ``Query``,
``SearchQuery``, and ``make_filter`` (a checked, typed comparison)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tally.core.errors import BadRequest, ValidationFailed

from .query_fields import OPERATORS, Value, coerce_value, field_type, operators_for

MAX_IN_VALUES = 100
NO_VALUE = frozenset({"isnull", "isnotnull"})


@dataclass(frozen=True, slots=True)
class Filter:
    field: str
    op: str
    values: tuple[Value, ...] = ()


@dataclass(frozen=True, slots=True)
class Group:
    logic: str  # "and" | "or"
    items: tuple[Condition, ...]


Condition = Filter | Group


@dataclass(frozen=True, slots=True)
class Sort:
    field: str
    order: str  # "asc" | "desc"


@dataclass(frozen=True, slots=True)
class Query:
    filters: tuple[Filter, ...] = ()
    logical_operator: str = "and"
    limit: int = 20
    offset: int = 0
    sort_by: str | None = None
    sort_order: str = "desc"
    include_count: bool = False

    @property
    def where(self) -> Group:
        return Group(self.logical_operator, self.filters)

    @property
    def sort(self) -> tuple[Sort, ...]:
        return (Sort(self.sort_by, self.sort_order),) if self.sort_by else ()


@dataclass(frozen=True, slots=True)
class SearchQuery:
    collection: str
    q: str = "*"
    query_by: tuple[str, ...] = ()
    match: Condition | None = None  # every term of q in one of the query_by fields
    filter: Condition | None = None  # filter_by
    sort: tuple[Sort, ...] = ()
    page: int = 1
    per_page: int = 10
    filter_by: str = ""
    include_fields: tuple[str, ...] = ()
    exclude_fields: tuple[str, ...] = ()

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def where(self) -> Condition | None:
        parts = tuple(c for c in (self.match, self.filter) if c is not None)
        return parts[0] if len(parts) == 1 else (Group("and", parts) if parts else None)


def make_filter(entity: str, field: str, op: str, values: Sequence[object]) -> Filter:
    """A checked, typed filter. Raises ``BadRequest`` or ``ValidationFailed``."""
    kind = field_type(entity, field)
    op = op.strip().lower()
    if op not in OPERATORS:
        raise BadRequest(
            f"Invalid filter: invalid operator {op!r} for field {field!r}: must be one of "
            + ", ".join(OPERATORS),
            details={"field": field, "operator": op},
        )
    allowed = operators_for(entity, field)
    if op not in allowed:
        raise BadRequest(
            f"Invalid filter: operator {op!r} does not apply to field {field!r}; use one of "
            + ", ".join(o for o in OPERATORS if o in allowed),
            details={"field": field, "operator": op},
        )
    _check_arity(field, op, values)
    typed = () if op in NO_VALUE else tuple(coerce_value(kind, field, v) for v in values)
    return Filter(field, op, typed)


def _check_arity(field: str, op: str, values: Sequence[object]) -> None:
    count = len(values)
    if op in NO_VALUE:
        return
    if op == "in" and not 1 <= count <= MAX_IN_VALUES:
        raise ValidationFailed(
            f"filter on {field!r}: 'in' takes 1 to {MAX_IN_VALUES} values; got {count}",
            details={"field": field},
        )
    if op == "between" and count != 2:
        raise ValidationFailed(
            f"filter on {field!r}: 'between' takes exactly two values (low and high); got {count}",
            details={"field": field},
        )
    if op not in ("in", "between") and count != 1:
        raise ValidationFailed(
            f"filter on {field!r}: {op!r} takes one value; got {count}", details={"field": field}
        )
