"""What the loyalty module stores (plain data, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .program import ProgramConfig


class PaymentStatus:
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"


class RedemptionState:
    HELD = "held"
    COMMITTED = "committed"
    RELEASED = "released"


class LotState:
    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"


class PtxType:
    EARN = "earn"
    REDEEM = "redeem"
    RELEASE = "release"
    CLAWBACK = "clawback"
    RESTORE = "restore"
    EXPIRE = "expire"
    ADJUST = "adjust"

    ALL = ("earn", "redeem", "release", "clawback", "restore", "expire", "adjust")


@dataclass(slots=True)
class Program:
    program_id: str
    name: str
    ledger_id: str
    point_unit: str
    issuing_balance_id: str
    redemption_balance_id: str
    pending_balance_id: str
    config: ProgramConfig
    created_at: datetime
    updated_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Customer:
    customer_id: str
    name: str
    email: str
    created_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Account:
    account_id: str
    program_id: str
    balance_id: str
    created_at: datetime
    customer_id: str | None = None
    deficit: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Reward:
    reward_id: str
    program_id: str
    name: str
    points_cost: int
    discount_amount: int
    currency: str
    created_at: datetime
    active: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Redemption:
    redemption_id: str
    program_id: str
    account_id: str
    reward_id: str
    points: int
    discount_amount: int
    currency: str
    state: str
    hold_transaction_id: str
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    payment_id: str | None = None
    settle_transaction_id: str | None = None
    release_reason: str | None = None


@dataclass(slots=True)
class Payment:
    payment_id: str
    amount: int
    currency: str
    status: str
    created_at: datetime
    customer_id: str | None = None
    account_id: str | None = None
    program_id: str | None = None
    amount_discount: int = 0
    amount_refunded: int = 0
    points_earned: int = 0
    points_clawed_back: int = 0
    points_redeemed: int = 0
    points_restored: int = 0
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    completed_at: datetime | None = None
    failed_at: datetime | None = None
    failure_reason: str | None = None
    redemptions: list[str] = field(default_factory=list)

    @property
    def amount_charged(self) -> int:
        return max(self.amount - self.amount_discount, 0)


@dataclass(slots=True)
class Refund:
    refund_id: str
    payment_id: str
    amount: int
    currency: str
    created_at: datetime
    points_due: int = 0
    points_clawed_back: int = 0
    points_restored: int = 0
    reason: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def points_capped(self) -> int:
        return self.points_due - self.points_clawed_back


@dataclass(slots=True)
class PointsTx:
    ptx_id: str
    account_id: str
    program_id: str
    points: int
    type: str
    created_at: datetime
    ledger_transaction: str | None = None
    payment_id: str | None = None
    refund_id: str | None = None
    redemption_id: str | None = None
    amount: int | None = None
    currency: str | None = None
    reason: str = ""
    available_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)
