"""The syntax of Typesense search parameters (``filter_by``, ``sort_by``, field lists).

Only syntax lives here: which fields exist and what their values mean is decided by ``query.py``.

``filter_by`` grammar (the subset Blnk's clients send, plus grouping)::

    expr    := term ("||" term)*
    term    := factor ("&&" factor)*
    factor  := "(" expr ")" | clause
    clause  := field ":" [comparator] (value | "[" item ("," item)* "]")
    item    := value | value ".." value
    value   := `backtick quoted` | bare text up to "&&", "||", ")" or "," (inside brackets)

Comparators: ``=`` (exact), ``!=``, ``>``, ``>=``, ``<``, ``<=``; none is Typesense's loose match.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from tally.core.errors import BadRequest

COMPARATORS = ("!=", ">=", "<=", "=", ">", "<")
_FIELD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


class SearchQueryInvalid(BadRequest):
    """A search request (collection, ``q``, ``filter_by``, ``sort_by``, paging) cannot be run."""

    code = "SRCH_QUERY_INVALID"


@dataclass(frozen=True, slots=True)
class Item:
    """One value in a clause; ``upper`` is set for a range ``low..upper``."""

    value: str
    upper: str | None = None


@dataclass(frozen=True, slots=True)
class Clause:
    field: str
    comparator: str  # "" (loose match), "=", "!=", ">", ">=", "<", "<="
    items: tuple[Item, ...]
    is_list: bool = False


@dataclass(frozen=True, slots=True)
class Junction:
    logic: str  # "and" | "or"
    parts: tuple[Clause | Junction, ...]


Expr = Clause | Junction


def parse_filter_by(text: str) -> Expr | None:
    """Parse a ``filter_by`` string; ``None`` when it is empty. Raises ``SearchQueryInvalid``."""
    if not text.strip():
        return None
    parser = _Parser(text)
    expr = parser.expression()
    parser.skip_spaces()
    if not parser.at_end():
        parser.fail("unexpected text")
    return expr


def parse_sort_by(text: str) -> tuple[tuple[str, str], ...]:
    """``"created_at:desc,balance:asc"`` -> ``(("created_at", "desc"), ("balance", "asc"))``."""
    result: list[tuple[str, str]] = []
    for part in split_fields(text):
        field, sep, order = part.partition(":")
        order = order.strip().lower()
        if not sep or order not in ("asc", "desc"):
            raise SearchQueryInvalid(
                f"sort_by: {part!r} must be written field:asc or field:desc",
                details={"sort_by": text},
            )
        result.append((field.strip(), order))
    return tuple(result)


def split_fields(text: str) -> tuple[str, ...]:
    """A comma-separated list of names, blanks dropped."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> NoReturn:
        raise SearchQueryInvalid(
            f"filter_by: {what} at position {self.pos} in {self.text!r}",
            details={"filter_by": self.text, "position": self.pos},
        )

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip_spaces(self) -> None:
        while not self.at_end() and self.text[self.pos].isspace():
            self.pos += 1

    def take(self, token: str) -> bool:
        self.skip_spaces()
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def expression(self) -> Expr:
        return self._joined("||", "or", self.term)

    def term(self) -> Expr:
        return self._joined("&&", "and", self.factor)

    def _joined(self, token: str, logic: str, part: Callable[[], Expr]) -> Expr:
        parts: list[Expr] = [part()]
        while self.take(token):
            parts.append(part())
        return parts[0] if len(parts) == 1 else Junction(logic, tuple(parts))

    def factor(self) -> Expr:
        if self.take("("):
            inner = self.expression()
            if not self.take(")"):
                self.fail("missing ')'")
            return inner
        return self.clause()

    def clause(self) -> Clause:
        self.skip_spaces()
        start = self.pos
        while not self.at_end() and self.text[self.pos] in _FIELD_CHARS:
            self.pos += 1
        field = self.text[start : self.pos]
        if not field:
            self.fail("expected a field name")
        if not self.take(":"):
            self.fail(f"expected ':' after field {field!r}")
        comparator = next((c for c in COMPARATORS if self.take(c)), "")
        if self.take("["):
            return Clause(field, comparator, self._list(), is_list=True)
        return Clause(field, comparator, (Item(self._value(stops=("&&", "||", ")"))),))

    def _list(self) -> tuple[Item, ...]:
        items: list[Item] = []
        while True:
            value = self._value(stops=(",", "]"))
            low, sep, high = value.partition("..")
            items.append(Item(low.strip(), high.strip()) if sep else Item(value))
            if self.take("]"):
                return tuple(items)
            if not self.take(","):
                self.fail("expected ',' or ']' in a list")

    def _value(self, *, stops: tuple[str, ...]) -> str:
        self.skip_spaces()
        if self.take("`"):
            end = self.text.find("`", self.pos)
            if end < 0:
                self.fail("unclosed backtick")
            value = self.text[self.pos : end]
            self.pos = end + 1
            return value
        start = self.pos
        while not self.at_end() and not any(self.text.startswith(s, self.pos) for s in stops):
            self.pos += 1
        value = self.text[start : self.pos].strip()
        if not value:
            self.fail("expected a value")
        return value
