"""Small helpers shared by the route modules."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.datastructures import State

from tally.core.errors import MalformedRequest, ValidationFailed
from tally.services import Services

T = TypeVar("T")


def services(state: State) -> Services:
    return state["services"]  # type: ignore[no-any-return]


def principal_id(request: Request[Any, Any, Any]) -> str:
    principal = request.scope.get("state", {}).get("principal")
    return getattr(principal, "id", "local")


def require(value: str | None, field: str, *, code: str = "GEN_VALIDATION_ERROR") -> str:
    if value is None or not str(value).strip():
        raise ValidationFailed(f"{field}: cannot be blank.", code=code, details={"field": field})
    return value


def decode_optional(body: bytes, type_: type[T]) -> T | None:
    """Decode an optional JSON body (an empty body means no options)."""
    if not body.strip():
        return None
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(str(exc), code="TXN_VALIDATION_ERROR") from None
    except msgspec.DecodeError as exc:
        raise MalformedRequest(f"Invalid input: the body is not valid JSON ({exc})") from None
