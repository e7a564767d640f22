"""Lists, filters and search compiled to SQL (SQLAlchemy Core), with the same answers on SQLite and
PostgreSQL.

- Amounts are compared as integers (SQLite keeps 64-bit values as integers; PostgreSQL NUMERIC is
  exact at any size). A transaction's ``amount`` (major units) is compared exactly as
  ``precise_amount * den = num * precision`` for the value ``num / den``.
- Times are ``Micros`` columns; a value covers the span it was written to (a date, a second), so
  ``eq`` is "within", ``gt`` "after", ``lte`` "up to the end of".
- ``meta_data.<key>``: ``eq``/``in``/``ne`` compare the value's JSON text (``5``, ``true``, ``abc``)
  and, for numbers, its numeric value; ``gt``/``lt``/``between`` compare numbers numerically
  (non-numbers never match) and other values as text; ``like``/``ilike`` use the text.
- ``like`` is case-sensitive on both stores (GLOB on SQLite, whose LIKE ignores case); ``ilike``
  ignores ASCII case on both (SQLite's LIKE; ILIKE under ``COLLATE "C"`` on PostgreSQL). Both use
  ``\\`` as the escape character.
- Text sorts bytewise on both stores (``COLLATE "C"`` on PostgreSQL); NULLs sort last; ties are
  broken by insertion order, so paging is stable. The default order is newest first.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.core.ledger.query import Condition, Filter, Query, SearchQuery, Sort
from tally.core.ledger.query_fields import (
    META_PREFIX,
    FieldType,
    Moment,
    Value,
    field_type,
    number_of,
    text_of,
)

from . import tables as t
from .ledger_repo import identity_view
from .rows import balance_from_row, ledger_from_row, transaction_from_row
from .types import Amount

Clause = sa.ColumnElement[bool]
Expr = sa.ColumnElement[Any]

TABLES: dict[str, sa.Table] = {
    "ledgers": t.ledgers,
    "balances": t.balances,
    "transactions": t.transactions,
    "identities": t.identities,
}
CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "ledgers": ledger_from_row,
    "balances": balance_from_row,
    "transactions": transaction_from_row,
    "identities": identity_view,
}
ESCAPE = "\\"
_INT64 = 2**63
_NEGATED = {"ne": "eq", "isnull": "isnotnull"}


@dataclass(frozen=True, slots=True)
class SearchResult:
    records: list[Any]
    found: int
    out_of: int


async def list_entities(
    conn: AsyncConnection, entity: str, query: Query
) -> tuple[list[Any], int | None]:
    """One page of ``entity`` rows as core records (identities as their wire dict), and the
    total count of matching rows when ``query.include_count``."""
    compiler = Compiler(entity, conn.dialect.name)
    where = compiler.condition(query.where)
    records, _ = await _page(
        conn, compiler, where, query.sort, query.limit, query.offset, counted=False
    )
    total = await _count(conn, compiler.table, where) if query.include_count else None
    return records, total


async def search_entities(conn: AsyncConnection, search: SearchQuery) -> SearchResult:
    """One page of a search, how many rows matched, and how many the collection holds."""
    compiler = Compiler(search.collection, conn.dialect.name)
    where = None if search.where is None else compiler.condition(search.where)
    # Text terms make the database read every row anyway, so the count rides along with the page;
    # otherwise an index can serve the page and a separate count is cheaper.
    records, found = await _page(
        conn, compiler, where, search.sort, search.per_page, search.offset,
        counted=search.match is not None,
    )  # fmt: skip
    if found is None:
        found = await _count(conn, compiler.table, where)
    out_of = found if where is None else await _count(conn, compiler.table, None)
    return SearchResult(records, found, out_of)


async def _page(
    conn: AsyncConnection,
    compiler: Compiler,
    where: Clause | None,
    sort: Sequence[Sort],
    limit: int,
    offset: int,
    *,
    counted: bool,
) -> tuple[list[Any], int | None]:
    """The page, and (when ``counted``) how many rows match, from the same scan where possible:
    ``count(*) OVER ()`` rides along with the page rows."""
    columns: list[Any] = [compiler.table]
    if counted:
        columns.append(sa.func.count().over().label("matching_rows"))
    statement = sa.select(*columns)
    if where is not None:
        statement = statement.where(where)
    statement = statement.order_by(*compiler.order_by(sort)).limit(limit).offset(offset)
    rows = (await conn.execute(statement)).all()
    convert = CONVERTERS[compiler.entity]
    records = [convert(row) for row in rows]
    if not counted:
        return records, None
    if rows:
        return records, int(rows[0].matching_rows)
    return records, (await _count(conn, compiler.table, where) if offset else 0)


async def _count(conn: AsyncConnection, table: sa.Table, where: Clause | None) -> int:
    statement = sa.select(sa.func.count()).select_from(table)
    if where is not None:
        statement = statement.where(where)
    return int((await conn.execute(statement)).scalar_one())


class Compiler:
    """Turns query conditions on one entity into SQL for one dialect."""

    def __init__(self, entity: str, dialect: str) -> None:
        self.entity = entity
        self.table = TABLES[entity]
        self.dialect = dialect
        self.sqlite = dialect == "sqlite"

    # ---- conditions ------------------------------------------------------------------------------

    def condition(self, condition: Condition) -> Clause | None:
        if isinstance(condition, Filter):
            return self.filter(condition)
        parts = [p for p in (self.condition(item) for item in condition.items) if p is not None]
        if not parts:
            return None
        return sa.and_(*parts) if condition.logic == "and" else sa.or_(*parts)

    def filter(self, f: Filter) -> Clause:
        kind = field_type(self.entity, f.field)
        if kind == FieldType.META:
            return self._meta(f)
        c = self.table.c
        if self.entity == "transactions":
            if f.field == "balance_id":
                return self._either_side(f)
            if f.field == "indicator":
                return self._via_balances(f, "indicator", (c.source, c.destination))
            if f.field in ("source_identity", "destination_identity"):
                side = c.source if f.field == "source_identity" else c.destination
                return self._via_balances(f, "identity_id", (side,))
            if f.field == "amount":
                return self._major(f)
        return self.compare(self._column(f.field), kind, f)

    def _column(self, field: str) -> Expr:
        c = self.table.c
        if self.entity == "balances" and field == "available_balance":
            return c.balance - c.inflight_debit_balance
        return c[field]

    def compare(self, expr: Expr, kind: str, f: Filter) -> Clause:
        """``expr <op> values`` for a plain column (or column expression) of type ``kind``."""
        nullable = _nullable(expr)
        if kind == FieldType.TIME:
            return self._time(expr, f.op, [_moment(v) for v in f.values], nullable)
        if f.op == "isnull":
            return self._null(expr, kind)
        if f.op == "isnotnull":
            return sa.not_(self._null(expr, kind))
        if f.op == "like":
            return self._like(expr, str(f.values[0]))
        if f.op == "ilike":
            return self._ilike(expr, str(f.values[0]))
        bound = [_bind(kind, v) for v in f.values]
        if f.op == "in":
            return expr.in_(bound)
        if f.op == "ne":
            return sa.or_(expr != bound[0], expr.is_(None)) if nullable else expr != bound[0]
        return _ordered(expr, f.op, bound)

    def _null(self, expr: Expr, kind: str) -> Clause:
        if kind == FieldType.TEXT:
            return sa.or_(expr.is_(None), expr == "")
        return expr.is_(None)

    def _like(self, expr: Expr, pattern: str) -> Clause:
        if self.sqlite:
            return expr.op("GLOB", is_comparison=True)(like_to_glob(pattern))
        return expr.like(pattern, escape=ESCAPE)

    def _ilike(self, expr: Expr, pattern: str) -> Clause:
        if self.sqlite:  # SQLite's LIKE already ignores ASCII case (and only ASCII case)
            return expr.like(pattern, escape=ESCAPE)
        # ASCII case folding, as on SQLite, and about three times faster than the locale's
        return expr.collate("C").ilike(pattern, escape=ESCAPE)

    def _time(self, expr: Expr, op: str, moments: list[Moment], nullable: bool) -> Clause:
        if op in ("isnull", "isnotnull"):
            return expr.is_(None) if op == "isnull" else expr.is_not(None)
        if op == "in":
            return sa.or_(*(self._time(expr, "eq", [m], nullable) for m in moments))
        first = moments[0]
        if op == "ne":
            outside = sa.or_(expr < first.at, expr >= first.until)
            return sa.or_(outside, expr.is_(None)) if nullable else outside
        spans: dict[str, Clause] = {
            "gt": expr >= first.until,
            "gte": expr >= first.at,
            "lt": expr < first.at,
            "lte": expr < first.until,
        }
        if op in spans:
            return spans[op]
        last = moments[-1]  # eq: within the span; between: from the first to the end of the last
        return sa.and_(expr >= first.at, expr < last.until)

    # ---- transactions: both sides, related balances, major units ---------------------------------

    def _either_side(self, f: Filter) -> Clause:
        sides = (self.table.c.source, self.table.c.destination)
        if f.op == "ne":
            return sa.and_(*(side != f.values[0] for side in sides))
        if f.op == "isnotnull":
            return sa.and_(*(side.is_not(None) for side in sides))
        if f.op == "isnull":
            return sa.or_(*(side.is_(None) for side in sides))
        values = list(f.values)
        return sa.or_(*(side.in_(values) for side in sides))

    def _via_balances(self, f: Filter, column: str, sides: Sequence[Expr]) -> Clause:
        """Rows whose source/destination balance has ``column <op> value``; ``ne`` and
        ``isnull`` mean that no side does."""
        positive = Filter(column, _NEGATED.get(f.op, f.op), f.values)
        balances = Compiler("balances", self.dialect)
        matching = sa.select(t.balances.c.balance_id).where(
            balances.compare(t.balances.c[column], FieldType.TEXT, positive)
        )
        hit = sa.or_(*(side.in_(matching) for side in sides))
        return sa.not_(hit) if f.op in _NEGATED else hit

    def _major(self, f: Filter) -> Clause:
        c = self.table.c
        if f.op in ("isnull", "isnotnull"):
            return c.precise_amount.is_(None) if f.op == "isnull" else c.precise_amount.is_not(None)

        def scaled(op: str, value: Value) -> Clause:
            numerator, denominator = Decimal(str(value)).as_integer_ratio()
            left = c.precise_amount * sa.literal(denominator, Amount())
            right = sa.literal(numerator, Amount()) * c.precision
            return _ordered(left, op, [right])

        if f.op == "in":
            return sa.or_(*(scaled("eq", v) for v in f.values))
        if f.op == "between":
            return sa.and_(scaled("gte", f.values[0]), scaled("lte", f.values[1]))
        return scaled(f.op, f.values[0])

    # ---- meta_data.<key> -------------------------------------------------------------------------

    def _meta(self, f: Filter) -> Clause:
        key = f.field[len(META_PREFIX) :]
        text, number = self._meta_text(key), self._meta_number(key)
        if f.op in ("isnull", "isnotnull"):
            return text.is_(None) if f.op == "isnull" else text.is_not(None)
        if f.op in ("eq", "in"):
            return sa.or_(*(self._meta_eq(text, number, v) for v in f.values))
        if f.op == "ne":
            return sa.or_(text.is_(None), sa.not_(self._meta_eq(text, number, f.values[0])))
        if f.op == "like":
            return self._like(text, str(f.values[0]))
        if f.op == "ilike":
            return self._ilike(text, str(f.values[0]))
        numbers = [number_of(v) for v in f.values]
        if all(
            n is not None and not isinstance(v, bool)
            for n, v in zip(numbers, f.values, strict=True)
        ):
            return _ordered(
                number, f.op, [self._number_literal(n) for n in numbers if n is not None]
            )
        return _ordered(text, f.op, [sa.literal(text_of(v), sa.Text()) for v in f.values])

    def _meta_eq(self, text: Expr, number: Expr, value: Value) -> Clause:
        same_text = text == sa.literal(text_of(value), sa.Text())
        numeric = None if isinstance(value, bool) else number_of(value)
        if numeric is None:
            return same_text
        same_number = sa.and_(number.is_not(None), number == self._number_literal(numeric))
        return sa.or_(same_text, same_number)

    def _meta_text(self, key: str) -> Expr:
        meta = self.table.c.meta_data
        if not self.sqlite:
            return sa.func.jsonb_extract_path_text(meta, sa.literal(key, sa.Text()))
        path = f'$."{key}"'
        kind = sa.func.json_type(meta, path)
        return sa.case(
            (kind == "true", sa.literal("true")),
            (kind == "false", sa.literal("false")),
            else_=sa.cast(sa.func.json_extract(meta, path), sa.Text()),
        )

    def _meta_number(self, key: str) -> Expr:
        meta = self.table.c.meta_data
        if not self.sqlite:
            node = sa.func.jsonb_extract_path(meta, sa.literal(key, sa.Text()))
            text = sa.func.jsonb_extract_path_text(meta, sa.literal(key, sa.Text()))
            return sa.case(
                (sa.func.jsonb_typeof(node) == "number", sa.cast(text, sa.Numeric())),
                else_=sa.null(),
            )
        path = f'$."{key}"'
        return sa.case(
            (sa.func.json_type(meta, path).in_(["integer", "real"]),
             sa.func.json_extract(meta, path)),
            else_=sa.null(),
        )  # fmt: skip

    def _number_literal(self, number: Decimal) -> Expr:
        if not self.sqlite:
            return sa.literal(number, sa.Numeric())
        if number == number.to_integral_value() and -_INT64 <= number < _INT64:
            return sa.literal(int(number), sa.BigInteger())
        return sa.literal(float(number), sa.Float())

    # ---- order -----------------------------------------------------------------------------------

    def order_by(self, sort: Sequence[Sort]) -> list[Any]:
        """The requested order (default newest first), then insertion order to break ties."""
        sort = tuple(sort) or (Sort("created_at", "desc"),)
        clauses: list[Any] = []
        for item in sort:
            expr, nullable = self._sort_expression(item.field)
            ordered = expr.asc() if item.order == "asc" else expr.desc()
            # NULLS LAST only where NULLs exist: on a NOT NULL column it would stop PostgreSQL
            # from reading its index backwards for the default newest-first order.
            clauses.append(ordered.nulls_last() if nullable else ordered)
        tie = self.table.c.id
        clauses.append(tie.asc() if sort[0].order == "asc" else tie.desc())
        return clauses

    def _sort_expression(self, field: str) -> tuple[Expr, bool]:
        c = self.table.c
        if self.entity == "transactions" and field == "amount":
            major = sa.cast(c.precise_amount, sa.Float()) / sa.cast(c.precision, sa.Float())
            return major, False
        expr = self._column(field)
        nullable = _nullable(expr)
        if not self.sqlite and field_type(self.entity, field) == FieldType.TEXT:
            return expr.collate("C"), nullable
        return expr, nullable


_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _ordered(expr: Expr, op: str, bound: Sequence[Any]) -> Clause:
    if op == "between":
        return sa.and_(expr >= bound[0], expr <= bound[1])
    clause: Clause = _COMPARISONS[op](expr, bound[0])
    return clause


def _nullable(expr: Expr) -> bool:
    return bool(getattr(expr, "nullable", False))


def _bind(kind: str, value: Value) -> Any:
    if kind in (FieldType.AMOUNT, FieldType.NUMBER):
        return sa.literal(value, Amount())
    return value


def _moment(value: Value) -> Moment:
    if not isinstance(value, Moment):
        raise TypeError(f"a time filter needs a Moment, got {value!r}")
    return value


def like_to_glob(pattern: str) -> str:
    """A LIKE pattern (``%``, ``_``, ``\\`` escapes) as the equivalent case-sensitive GLOB."""
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == ESCAPE:
            literal = next(chars, ESCAPE)
            out.append(f"[{literal}]" if literal in "*?[" else literal)
        elif char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        else:
            out.append(f"[{char}]" if char in "*?[" else char)
    return "".join(out)
