"""A loyalty program's settings, checked once when the program is created or updated.

Defaults: ``clawback.allow_negative`` true, redemption hold 30 minutes, no pending period, points
never expire, redeemed points restored (proportionally) when the payment they discounted is
refunded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .errors import LoyaltyInvalid
from .rules import EarnRule, PeriodCap, cap_view, parse_cap, parse_rules, rule_view
from .timing import end_of, parse_duration

DEFAULT_HOLD_SECONDS = 30 * 60
POINT_UNIT = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
REFUND_POLICIES = ("restore", "keep")
EXPIRY_TYPES = ("never", "rolling")


@dataclass(frozen=True, slots=True)
class ExpiryPolicy:
    """``never``, or ``rolling``: points expire ``after_seconds`` after they become available,
    optionally pushed to the end of that day, month or year (``round_to``)."""

    type: str = "never"
    after_seconds: int = 0
    round_to: str | None = None

    def expires_at(self, available_at: datetime) -> datetime | None:
        if self.type == "never":
            return None
        when = available_at + timedelta(seconds=self.after_seconds)
        return end_of(self.round_to, when) if self.round_to else when


@dataclass(frozen=True, slots=True)
class ProgramConfig:
    earning_rules: list[EarnRule] = field(default_factory=list)
    allow_negative: bool = True
    redemption_hold_seconds: int = DEFAULT_HOLD_SECONDS
    pending_seconds: int = 0
    expiry: ExpiryPolicy = field(default_factory=ExpiryPolicy)
    redeemed_points_on_refund: str = "restore"
    cap_per_payment: int | None = None
    cap_per_member: PeriodCap | None = None


def parse_point_unit(value: object) -> str:
    if not isinstance(value, str) or not POINT_UNIT.match(value):
        raise LoyaltyInvalid(
            f"point_unit must be a short code of letters and digits such as PTS; got {value!r}",
            details={"field": "point_unit"},
        )
    return value.upper()


def _expiry(raw: object) -> ExpiryPolicy:
    if raw is None:
        return ExpiryPolicy()
    if not isinstance(raw, dict) or raw.get("type", "never") not in EXPIRY_TYPES:
        raise LoyaltyInvalid(
            'expiry must be {"type": "never"} or {"type": "rolling", '
            '"after": "365d", "round_to": "month"}'
        )
    if raw.get("type", "never") == "never":
        return ExpiryPolicy()
    after = parse_duration(raw.get("after", raw.get("after_seconds")), field="expiry.after")
    if after <= 0:
        raise LoyaltyInvalid("expiry.after must be longer than zero")
    round_to = raw.get("round_to")
    if round_to not in (None, "day", "month", "year"):
        raise LoyaltyInvalid("expiry.round_to must be day, month or year")
    return ExpiryPolicy("rolling", after, round_to)


def _duration(raw: dict[str, Any], name: str, default: int) -> int:
    if raw.get(name) is not None:
        return parse_duration(raw[name], field=name)
    if raw.get(f"{name}_seconds") is not None:
        return parse_duration(raw[f"{name}_seconds"], field=f"{name}_seconds")
    return default


def parse_config(raw: dict[str, Any], base: ProgramConfig | None = None) -> ProgramConfig:
    """Settings from a request body; keys left out keep ``base``'s value (or the default)."""
    base = base or ProgramConfig()
    clawback = raw.get("clawback") or {}
    if not isinstance(clawback, dict):
        raise LoyaltyInvalid('clawback must be an object such as {"allow_negative": false}')
    refunds = raw.get("refunds") or {}
    policy = (
        refunds.get("redeemed_points", base.redeemed_points_on_refund)
        if isinstance(refunds, dict)
        else None
    )
    if policy not in REFUND_POLICIES:
        raise LoyaltyInvalid('refunds.redeemed_points must be "restore" or "keep"')
    caps = raw.get("earning_caps") or {}
    if not isinstance(caps, dict):
        raise LoyaltyInvalid("earning_caps must be an object")
    hold = _duration(raw, "redemption_hold", base.redemption_hold_seconds)
    if hold <= 0:
        raise LoyaltyInvalid("redemption_hold must be longer than zero")
    return ProgramConfig(
        earning_rules=parse_rules(raw["earning_rules"])
        if "earning_rules" in raw
        else base.earning_rules,
        allow_negative=bool(clawback.get("allow_negative", base.allow_negative)),
        redemption_hold_seconds=hold,
        pending_seconds=_duration(raw, "pending_period", base.pending_seconds),
        expiry=_expiry(raw["expiry"]) if "expiry" in raw else base.expiry,
        redeemed_points_on_refund=str(policy),
        cap_per_payment=_optional_int(caps, "per_payment", base.cap_per_payment),
        cap_per_member=parse_cap(caps["per_member"], "earning_caps.per_member")
        if "per_member" in caps
        else base.cap_per_member,
    )


def _optional_int(raw: dict[str, Any], name: str, default: int | None) -> int | None:
    if name not in raw:
        return default
    value = raw[name]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LoyaltyInvalid(f"earning_caps.{name} must be a whole number >= 0")
    return value


def config_view(config: ProgramConfig) -> dict[str, Any]:
    expiry: dict[str, Any] = {"type": config.expiry.type}
    if config.expiry.type == "rolling":
        expiry.update(after_seconds=config.expiry.after_seconds, round_to=config.expiry.round_to)
    return {
        "earning_rules": [rule_view(r) for r in config.earning_rules],
        "earning_caps": {
            "per_payment": config.cap_per_payment,
            "per_member": cap_view(config.cap_per_member),
        },
        "clawback": {"allow_negative": config.allow_negative},
        "redemption_hold_seconds": config.redemption_hold_seconds,
        "pending_period_seconds": config.pending_seconds,
        "expiry": expiry,
        "refunds": {"redeemed_points": config.redeemed_points_on_refund},
    }


def config_to_store(config: ProgramConfig) -> dict[str, Any]:
    """What the database keeps: the wire view, which ``parse_config`` reads back unchanged."""
    view = config_view(config)
    view["expiry"] = {**view["expiry"]}
    if config.expiry.type == "rolling":
        view["expiry"]["after"] = config.expiry.after_seconds
        del view["expiry"]["after_seconds"]
    return view
