"""Business errors. Each class names a fact; the HTTP layer maps classes to statuses in one table.

Every error carries a stable ``code`` (Blnk's catalogue where Blnk has one) and a message that tells
the caller what to do. The core knows nothing of HTTP.
"""

from __future__ import annotations

from typing import Any


class TallyError(Exception):
    """Root of every error Tally raises on purpose."""

    code = "GEN_INTERNAL"
    internal = False  # True: a signal between Tally's own layers that never reaches a caller

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code


# ---- 400: the request itself is wrong -------------------------------------------------------


class ValidationFailed(TallyError):
    """The request body or parameters are malformed or break a field rule."""

    code = "GEN_VALIDATION_ERROR"


class MalformedRequest(ValidationFailed):
    """The body is not valid JSON or has the wrong shape."""

    code = "GEN_MALFORMED_REQUEST"


class BadRequest(ValidationFailed):
    """The request refers to something in a way that cannot work (bad filter, unknown field)."""

    code = "GEN_BAD_REQUEST"


class TransactionInvalid(ValidationFailed):
    """A transaction request breaks a transaction rule (amount, parties, dates, distribution)."""

    code = "TXN_VALIDATION_ERROR"


class PrecisionNotInteger(TransactionInvalid):
    """``precision`` is not a positive whole number."""

    code = "TXN_PRECISION_NOT_INTEGER"


class InvalidAmount(TransactionInvalid):
    """An amount is zero, negative, or not exact at the stated precision."""

    code = "TXN_INVALID_AMOUNT"


class InvalidDistribution(TransactionInvalid):
    """Split legs do not add up to the transaction amount."""

    code = "TXN_INVALID_DISTRIBUTION"


class CurrencyMismatch(TransactionInvalid):
    """A balance's currency differs from the transaction's currency."""

    code = "TXN_CURRENCY_MISMATCH"


class InvalidStatusAction(TransactionInvalid):
    """An inflight update asked for something other than ``commit`` or ``void``."""

    code = "TXN_INVALID_STATUS_ACTION"


class BulkEmpty(TransactionInvalid):
    """A bulk request had no transactions."""

    code = "TXN_BULK_EMPTY"


class BulkLimitExceeded(TransactionInvalid):
    """A bulk request had more transactions than allowed."""

    code = "TXN_BULK_LIMIT_EXCEEDED"


class InvalidTimestamp(ValidationFailed):
    """A timestamp parameter could not be parsed."""

    code = "BAL_INVALID_TIMESTAMP"


class InsufficientFunds(TallyError):
    """The source balance's available amount (balance - held) cannot cover the debit."""

    code = "TXN_INSUFFICIENT_FUNDS"


class OverdraftLimitExceeded(InsufficientFunds):
    """The debit would take the source below the overdraft limit given on the transaction."""


class NotInflight(TallyError):
    """A commit or void targeted a transaction that is not an inflight hold."""

    code = "TXN_NOT_INFLIGHT"


class CommitAmountExceeded(TallyError):
    """A commit asked for more than the hold has left."""

    code = "TXN_COMMIT_AMOUNT_EXCEEDED"


class NotRefundable(TransactionInvalid):
    """The transaction cannot be refunded (it is a refund, a hold, or a void)."""

    code = "TXN_NOT_REFUNDABLE"


# ---- 401 / 403: who is calling ----------------------------------------------------------------


class AuthError(TallyError):
    """Authentication failed."""

    code = "AUTH_INVALID_API_KEY"


class MissingApiKey(AuthError):
    """No key was sent and the server requires one."""

    code = "AUTH_MISSING_API_KEY"


class InvalidApiKey(AuthError):
    """The key sent matches no master key and no API key."""

    code = "AUTH_INVALID_API_KEY"


class ExpiredApiKey(AuthError):
    """The API key was revoked or is past its expiry."""

    code = "AUTH_EXPIRED_API_KEY"


class Forbidden(TallyError):
    """The caller is known but may not do this."""

    code = "AUTH_INSUFFICIENT_PERMISSIONS"


# ---- 404 ---------------------------------------------------------------------------------------


class NotFound(TallyError):
    """The thing asked for does not exist."""

    code = "GEN_NOT_FOUND"


class LedgerNotFound(NotFound):
    """No ledger has this id."""

    code = "LGR_NOT_FOUND"


class BalanceNotFound(NotFound):
    """No balance has this id (or indicator and currency)."""

    code = "BAL_NOT_FOUND"


class TransactionNotFound(NotFound):
    """No transaction has this id or reference."""

    code = "TXN_NOT_FOUND"


class IdentityNotFound(NotFound):
    """No identity has this id."""

    code = "IDT_NOT_FOUND"


class MonitorNotFound(NotFound):
    """No balance monitor has this id."""

    code = "BAL_MONITOR_NOT_FOUND"


class ApiKeyNotFound(NotFound):
    """No API key has this id."""

    code = "APIKEY_NOT_FOUND"


class EntityNotFound(NotFound):
    """A metadata update named an entity that does not exist."""

    code = "META_ENTITY_NOT_FOUND"


# ---- 409 ---------------------------------------------------------------------------------------


class Conflict(TallyError):
    """The request conflicts with the current state."""

    code = "GEN_CONFLICT"


class DuplicateReference(Conflict):
    """A transaction with this reference already exists; references are unique forever."""

    code = "TXN_DUPLICATE_REFERENCE"


class AlreadyCommitted(Conflict):
    """The hold has been committed in full; nothing is left to commit or void."""

    code = "TXN_ALREADY_COMMITTED"


class AlreadyVoided(Conflict):
    """The hold has been voided; it cannot be committed or voided again."""

    code = "TXN_ALREADY_VOIDED"


class AlreadyRefunded(Conflict):
    """The transaction has been refunded already; a transaction is refunded at most once."""

    code = "TXN_ALREADY_REFUNDED"


class IdempotencyKeyReused(Conflict):
    """The Idempotency-Key was used before with a different request."""

    code = "GEN_IDEMPOTENCY_KEY_REUSED"


class IdempotencyInProgress(Conflict):
    """A request with this Idempotency-Key is still being processed."""

    code = "GEN_IDEMPOTENCY_IN_PROGRESS"


# ---- other ------------------------------------------------------------------------------------


class PayloadTooLarge(TallyError):
    """The request body is larger than the configured limit."""

    code = "GEN_PAYLOAD_TOO_LARGE"


class Unavailable(TallyError):
    """A dependency (the database) is not reachable; retry later."""

    code = "GEN_UNAVAILABLE"
