"""The one table from error classes to HTTP statuses, and the error envelope.

Envelope (Blnk's): ``{"error": msg, "error_detail": {"code", "message", "details"}}``; validation
errors also carry Blnk's legacy ``errors`` key with the same message. Lookup walks the class
hierarchy, so a new subclass inherits its parent's status.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    SerializationException,
    ValidationException,
)

from tally.core import errors as e

log = logging.getLogger("tally.api")

STATUS: dict[type[e.TallyError], int] = {
    e.ValidationFailed: 400,
    e.InsufficientFunds: 400,
    e.NotInflight: 400,
    e.CommitAmountExceeded: 400,
    e.AuthError: 401,
    e.Forbidden: 403,
    e.NotFound: 404,
    e.Conflict: 409,
    e.PayloadTooLarge: 413,
    e.Unavailable: 503,
    e.TallyError: 500,
}


def status_for(exc: e.TallyError) -> int:
    return status_for_class(type(exc))


def status_for_class(error: type[e.TallyError]) -> int:
    for cls in error.__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def envelope(
    code: str, message: str, details: Any = None, *, legacy: bool = False
) -> dict[str, Any]:
    detail: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        detail["details"] = details
    body: dict[str, Any] = {"error": message, "error_detail": detail}
    if legacy:
        body["errors"] = message
    return body


def encode_error(status: int, code: str, message: str, details: Any = None) -> bytes:
    return msgspec.json.encode(envelope(code, message, details, legacy=status == 400))


def tally_error_answer(exc: e.TallyError) -> tuple[int, dict[str, Any]]:
    """The status and envelope a route answers a ``TallyError`` with (a 5xx is logged)."""
    status = status_for(exc)
    if status >= 500:
        log.error("request failed: %s", exc.message)
    legacy = isinstance(exc, e.ValidationFailed)
    return status, envelope(exc.code, exc.message, exc.details, legacy=legacy)


def tally_error_response(exc: e.TallyError) -> Response[Any]:
    status, body = tally_error_answer(exc)
    return Response(body, status_code=status)


def _validation_code(request: Request[Any, Any, Any]) -> str:
    path = request.url.path
    if path.startswith(("/transactions", "/refund-transaction")):
        return "TXN_VALIDATION_ERROR"
    if path.startswith("/balances"):
        return "BAL_VALIDATION_ERROR" if "/at" in path else "GEN_VALIDATION_ERROR"
    if path.startswith("/identities"):
        return "IDT_VALIDATION_ERROR"
    return "GEN_VALIDATION_ERROR"


def handle_tally_error(request: Request[Any, Any, Any], exc: e.TallyError) -> Response[Any]:
    return tally_error_response(exc)


def _field_message(item: dict[str, Any]) -> str:
    """One field's complaint; the whole body (Litestar's ``data``) is named as such."""
    key = item.get("key") or item.get("source") or ""
    text = str(item.get("message"))
    if key == "data":
        if text == "'data'":
            return "the request body is empty: send a JSON object"
        return f"the request body must be a JSON object: {text}"
    return f"{key}: {text}" if key else text


def handle_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    detail = str(exc.detail)
    extra = exc.extra if isinstance(exc.extra, list) else None
    messages = [_field_message(item) for item in extra or [] if isinstance(item, dict)]
    message = "; ".join(messages) or detail
    if "JSON" in detail or ("json" in message.lower() and "malformed" in message.lower()):
        code = "GEN_MALFORMED_REQUEST"
        message = f"Invalid input: the body is not valid JSON ({message})"
    else:
        code = _validation_code(request)
    return Response(envelope(code, message, extra, legacy=True), status_code=400)


def handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, NotFoundException):
        code, message = "GEN_NOT_FOUND", f"no route for {request.method} {request.url.path}"
    elif isinstance(exc, MethodNotAllowedException):
        code, message = "GEN_METHOD_NOT_ALLOWED", str(exc.detail)
    elif "JSON is malformed" in str(exc.detail):
        code, message = "GEN_MALFORMED_REQUEST", f"Invalid input: {exc.detail}"
    elif isinstance(exc.__cause__, SerializationException):  # e.g. a truncated JSON body
        code = "GEN_MALFORMED_REQUEST"
        message = f"Invalid input: the body is not valid JSON ({exc.detail})"
    elif status == 413:
        code, message = "GEN_PAYLOAD_TOO_LARGE", "the request body is too large"
    elif status < 500:
        code, message = "GEN_BAD_REQUEST", str(exc.detail)
    else:
        code, message = "GEN_INTERNAL", "internal server error"
    return Response(envelope(code, message, legacy=status == 400), status_code=status)


def unexpected_answer(method: str, path: str) -> tuple[int, dict[str, Any]]:
    """A bug, not a business failure: logged with its traceback (call it from ``except``)."""
    log.exception("unhandled error on %s %s", method, path)
    return 500, envelope("GEN_INTERNAL", "internal server error")


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    status, body = unexpected_answer(request.method, request.url.path)
    return Response(body, status_code=status)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    e.TallyError: handle_tally_error,
    ValidationException: handle_validation,
    HTTPException: handle_http,
    Exception: handle_unexpected,
}


def error_catalog() -> list[tuple[str, int, str]]:
    """Every error code Tally can answer with: (code, HTTP status, when), for the docs."""
    import importlib
    import pkgutil

    import tally

    for info in pkgutil.walk_packages(tally.__path__, "tally."):
        if info.name.startswith(("tally.core.", "tally.store.")):
            importlib.import_module(info.name)
    found: dict[str, tuple[str, int, str]] = {}
    pending: list[type[e.TallyError]] = [e.TallyError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        doc = " ".join((cls.__doc__ or "").split())
        if cls.internal:
            continue
        found.setdefault(cls.code, (cls.code, status_for_class(cls), doc))
    return sorted(found.values(), key=lambda row: (row[1], row[0]))


def catalog_markdown() -> str:
    lines = ["| code | HTTP | when |", "|---|---|---|"]
    lines += [f"| `{code}` | {status} | {doc} |" for code, status, doc in error_catalog()]
    return "\n".join(lines) + "\n"


def write_catalog(path: str) -> None:
    """Replace the table between the error-codes markers in ``path`` (``make docs``)."""
    from pathlib import Path

    doc = Path(path)
    text = doc.read_text()
    start, end = "<!-- error-codes:start -->", "<!-- error-codes:end -->"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(f"{head}{start}\n{catalog_markdown()}{end}{tail}")


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 1:
        write_catalog(sys.argv[1])
    else:
        sys.stdout.write(catalog_markdown())
