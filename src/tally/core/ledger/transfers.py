"""Turning a transaction request into legs: every rule a request must pass before touching money."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tally.core.clock import parse_timestamp
from tally.core.errors import InvalidAmount, TransactionInvalid
from tally.core.ids import new_id

from .amounts import parse_precision, resolve_amount, to_minor
from .balances import Overdraft
from .distribution import Share, split

INDICATOR_PATTERN = re.compile(r"^@\S+$")
MAX_REFERENCE_LENGTH = 512


@dataclass(slots=True)
class TransferRequest:
    """A transaction request as it arrives (Blnk's fields), not yet checked."""

    currency: str | None = None
    reference: str | None = None
    description: str | None = None
    amount: Any = None
    precise_amount: Any = None
    precision: Any = None
    source: str | None = None
    destination: str | None = None
    sources: list[Share] | None = None
    destinations: list[Share] | None = None
    allow_overdraft: bool = False
    overdraft_limit: Any = None
    inflight: bool = False
    atomic: bool = False
    meta_data: dict[str, Any] | None = None
    effective_date: str | None = None
    scheduled_for: str | None = None
    inflight_expiry_date: str | None = None
    transaction_id: str | None = None


@dataclass(slots=True)
class Leg:
    transaction_id: str
    reference: str
    source: str  # a balance id or an @indicator, resolved by the engine
    destination: str
    amount: int


@dataclass(slots=True)
class TransferPlan:
    """A checked request: what the engine posts, all legs or none."""

    transaction_id: str
    reference: str
    currency: str
    precision: int
    total: int
    legs: list[Leg]
    description: str = ""
    meta_data: dict[str, Any] = field(default_factory=dict)
    inflight: bool = False
    atomic: bool = False
    overdraft: Overdraft = field(default_factory=Overdraft)
    effective_date: datetime | None = None
    scheduled_for: datetime | None = None
    inflight_expiry_date: datetime | None = None
    parent_transaction: str | None = None
    multi: bool = False
    sources: list[Share] | None = None
    destinations: list[Share] | None = None
    source: str | None = None
    destination: str | None = None


def _required_text(value: str | None, name: str) -> str:
    if value is None or not isinstance(value, str) or not value.strip():
        raise TransactionInvalid(f"{name}: cannot be blank.", details={"field": name})
    return value


def _date(value: str | None, name: str) -> datetime | None:
    if value is None or value == "" or value.startswith("0001-01-01"):
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        raise TransactionInvalid(
            f"{name} must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z; got {value!r}",
            details={"field": name},
        ) from None


def _check_party(identifier: str, name: str) -> str:
    if not isinstance(identifier, str) or not identifier.strip():
        raise TransactionInvalid(f"{name}: cannot be blank.", details={"field": name})
    if identifier.startswith("@") and not INDICATOR_PATTERN.match(identifier):
        raise TransactionInvalid(f"{name} indicator {identifier!r} must be '@' and no spaces")
    return identifier


def plan_transfer(req: TransferRequest, *, now: datetime) -> TransferPlan:
    currency = _required_text(req.currency, "currency")
    reference = _required_text(req.reference, "reference")
    if len(reference) > MAX_REFERENCE_LENGTH:
        raise TransactionInvalid(f"reference is longer than {MAX_REFERENCE_LENGTH} characters")
    if req.meta_data is not None and not isinstance(req.meta_data, dict):
        raise TransactionInvalid("meta_data must be an object")
    precision = parse_precision(req.precision)
    total = resolve_amount(req.amount, req.precise_amount, precision)
    overdraft = _overdraft(req, precision)
    txn_id = req.transaction_id or new_id("txn")
    legs = _legs(req, txn_id, reference, total, precision)
    scheduled_for = _date(req.scheduled_for, "scheduled_for")
    expiry = _date(req.inflight_expiry_date, "inflight_expiry_date")
    if expiry is not None and not req.inflight:
        raise TransactionInvalid("inflight_expiry_date needs inflight: true")
    if expiry is not None and expiry <= now:
        raise TransactionInvalid("inflight_expiry_date must be in the future")
    return TransferPlan(
        transaction_id=txn_id,
        reference=reference,
        currency=currency,
        precision=precision,
        total=total,
        legs=legs,
        description=req.description or "",
        meta_data=dict(req.meta_data or {}),
        inflight=bool(req.inflight),
        atomic=bool(req.atomic),
        overdraft=overdraft,
        effective_date=_date(req.effective_date, "effective_date"),
        scheduled_for=scheduled_for if scheduled_for is not None and scheduled_for > now else None,
        inflight_expiry_date=expiry,
        multi=len(legs) > 1 or bool(req.sources) or bool(req.destinations),
        sources=req.sources,
        destinations=req.destinations,
        source=req.source,
        destination=req.destination,
    )


def _overdraft(req: TransferRequest, precision: int) -> Overdraft:
    limit = 0
    if req.overdraft_limit not in (None, 0, "0", ""):
        limit = to_minor(req.overdraft_limit, precision, field="overdraft_limit")
        if limit < 0:
            raise InvalidAmount("overdraft_limit cannot be negative")
    return Overdraft(allow=bool(req.allow_overdraft), limit=limit)


def _legs(
    req: TransferRequest, txn_id: str, reference: str, total: int, precision: int
) -> list[Leg]:
    if (req.source is not None) == bool(req.sources):
        raise TransactionInvalid("give exactly one of source or sources")
    if (req.destination is not None) == bool(req.destinations):
        raise TransactionInvalid("give exactly one of destination or destinations")
    if req.sources and req.destinations:
        raise TransactionInvalid("sources and destinations cannot both have several legs")
    if req.sources:
        destination = _check_party(req.destination or "", "destination")
        parts = split(total, precision, req.sources)
        pairs = [(_check_party(ident, "sources"), destination, amt) for ident, amt in parts]
    elif req.destinations:
        source = _check_party(req.source or "", "source")
        parts = split(total, precision, req.destinations)
        pairs = [(source, _check_party(ident, "destinations"), amt) for ident, amt in parts]
    else:
        pairs = [
            (
                _check_party(req.source or "", "source"),
                _check_party(req.destination or "", "destination"),
                total,
            )
        ]
    for source, destination, _ in pairs:
        if source == destination:
            raise TransactionInvalid("source and destination cannot be the same balance")
    if len(pairs) == 1 and not (req.sources or req.destinations):
        s, d, a = pairs[0]
        return [Leg(txn_id, reference, s, d, a)]
    return [
        Leg(new_id("txn"), reference if i == 0 else f"{reference}-{i + 1}", s, d, a)
        for i, (s, d, a) in enumerate(pairs)
    ]
