"""A virtual card: who holds it, its currency and balance, its state, limits and merchant lock.

States: ``ACTIVE`` approves authorizations its limits allow; ``BLOCKED`` declines them and can be
unblocked; ``CLOSED`` declines them and is final. Captures and reversals of authorizations
approved earlier still work on a blocked or closed card: the merchant holds a valid authorization.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import fields, pan
from .errors import CardFieldInvalid, CardStateConflict


class CardState:
    ACTIVE = "ACTIVE"
    BLOCKED = "BLOCKED"
    CLOSED = "CLOSED"


# action -> (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "block": (frozenset({CardState.ACTIVE}), CardState.BLOCKED),
    "unblock": (frozenset({CardState.BLOCKED}), CardState.ACTIVE),
    "close": (frozenset({CardState.ACTIVE, CardState.BLOCKED}), CardState.CLOSED),
}

HOLDER_TYPES = {"idt": "identity", "per": "person"}


@dataclass(frozen=True, slots=True)
class Limits:
    """Spending limits in minor units; ``None`` means no limit of that kind."""

    per_authorization: int | None = None
    per_day: int | None = None


@dataclass(frozen=True, slots=True)
class IssuedDetails:
    """What may be shown of the issuing partner's card details (the rest is stored encrypted)."""

    last4: str
    exp_month: int
    exp_year: int
    brand: str = ""


@dataclass(slots=True)
class VirtualCard:
    card_id: str
    holder_id: str
    holder_type: str
    currency: str
    ledger_id: str
    balance_id: str
    state: str
    limits: Limits
    created_at: datetime
    updated_at: datetime
    merchant_lock: list[str] | None = None
    details: IssuedDetails | None = None
    meta_data: dict[str, Any] = field(default_factory=dict)


def next_state(card: VirtualCard, action: str) -> str:
    """The state ``action`` leads to, or :class:`CardStateConflict` if the card cannot do it."""
    allowed, target = TRANSITIONS[action]
    if card.state not in allowed:
        if card.state == CardState.CLOSED:
            raise CardStateConflict(
                f"card {card.card_id} is closed; a closed card cannot be reopened or changed",
                details={"state": card.state},
            )
        raise CardStateConflict(
            f"card {card.card_id} is {card.state}; it cannot be asked to {action}",
            details={"state": card.state},
        )
    return target


def holder_type(holder_id: str) -> str:
    prefix = holder_id.split("_", 1)[0]
    if prefix not in HOLDER_TYPES or "_" not in holder_id:
        raise CardFieldInvalid(
            "holder must be an identity id (idt_...) or a person id (per_...)",
            details={"field": "holder"},
        )
    return HOLDER_TYPES[prefix]


def parse_limits(raw: Any) -> Limits:
    if raw is None:
        return Limits()
    if not isinstance(raw, dict):
        raise CardFieldInvalid("limits must be an object", details={"field": "limits"})
    unknown = set(raw) - {"per_authorization", "per_day"}
    if unknown:
        raise CardFieldInvalid(
            f"limits has unknown keys {sorted(unknown)}; use per_authorization and per_day",
            details={"field": "limits"},
        )
    return Limits(
        per_authorization=fields.optional_amount(
            raw.get("per_authorization"), "limits.per_authorization"
        ),
        per_day=fields.optional_amount(raw.get("per_day"), "limits.per_day"),
    )


def parse_merchant_lock(raw: Any) -> list[str] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        raise CardFieldInvalid(
            "merchant_lock must be a non-empty list of merchant ids",
            details={"field": "merchant_lock"},
        )
    return sorted({fields.merchant_id(item, "merchant_lock") for item in raw})


def parse_issued_details(raw: Any, *, now: datetime) -> tuple[IssuedDetails, dict[str, Any]]:
    """Details from the issuing partner: (what may be shown, what is sealed by the vault).

    The number must pass the Luhn check; its brand is kept when it is a known one. A CVV, when the
    partner provides one, must be 3 or 4 digits; it is sealed with the number and never shown.
    """
    if not isinstance(raw, dict):
        raise CardFieldInvalid("details must be an object", details={"field": "details"})
    digits = pan.normalize(raw.get("number"))
    try:
        brand = pan.brand(digits)
    except pan.UnsupportedBrand:
        brand = ""
    month, year = pan.parse_expiry(raw.get("exp_month"), raw.get("exp_year"), now=now)
    sealed: dict[str, Any] = {"number": digits, "exp_month": month, "exp_year": year}
    cvv = raw.get("cvv")
    if cvv is not None:
        if not isinstance(cvv, str) or not cvv.isdigit() or len(cvv) not in (3, 4):
            raise CardFieldInvalid(
                "details.cvv must be 3 or 4 digits as a string", details={"field": "details.cvv"}
            )
        sealed["cvv"] = cvv
    return IssuedDetails(last4=digits[-4:], exp_month=month, exp_year=year, brand=brand), sealed
