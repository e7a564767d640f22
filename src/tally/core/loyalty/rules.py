"""Earning rules: parsing, and the evaluation that says rule by rule why points were (not) earned.

Rule types (evaluated by ascending ``priority``, then by position in the program):

- ``rate``: ``points`` per ``per_amount`` minor units of ``currency`` spent:
  ``floor(amount_charged * points / per_amount)`` (1 point per EUR 1.00 is ``points: 1,
  per_amount: 100``, and EUR 42.99 earns 42).
- ``fixed``: a flat ``points`` bonus per qualifying payment.
- ``multiplier``: ``factor`` (a decimal string > 1) applied to the points the ``rate`` rules
  *before it* gave: it adds ``floor(base * (factor - 1))``.

Conditions (all must hold): ``metadata`` (every key equal, or one of a list), ``min_amount``
(minor units charged), ``active_from`` / ``active_until`` (the payment's completion time), and
the rule's ``currency``. Caps: ``cap_per_payment`` on the rule's own points and ``cap_per_member``
``{points, period}`` per calendar period (UTC). A rule with ``stackable: false`` that applies
stops the rules after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from tally.core.clock import format_timestamp, parse_timestamp

from .errors import LoyaltyInvalid
from .timing import PERIODS, period_start

RULE_TYPES = ("rate", "fixed", "multiplier")
PROGRAM_SCOPE = "*"


@dataclass(frozen=True, slots=True)
class PeriodCap:
    points: int
    period: str


@dataclass(frozen=True, slots=True)
class EarnRule:
    name: str
    type: str
    points: int = 0
    per_amount: int = 0
    factor: Fraction = Fraction(1)
    currency: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    min_amount: int = 0
    active_from: datetime | None = None
    active_until: datetime | None = None
    cap_per_payment: int | None = None
    cap_per_member: PeriodCap | None = None
    priority: int = 0
    stackable: bool = True
    active: bool = True


@dataclass(frozen=True, slots=True)
class Purchase:
    """What earning looks at: the amount charged (after discounts), currency, metadata, time."""

    amount: int
    currency: str
    metadata: dict[str, Any]
    at: datetime


@dataclass(slots=True)
class RuleOutcome:
    rule: str
    type: str
    applied: bool
    points: int
    reason: str

    def view(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "type": self.type,
            "applied": self.applied,
            "points": self.points,
            "reason": self.reason,
        }


@dataclass(slots=True)
class EarnResult:
    points: int
    outcomes: list[RuleOutcome]
    usage: dict[tuple[str, datetime], int]  # (scope, period start) -> points added by this earn


UsageKey = tuple[str, datetime]


# ---- parsing ----------------------------------------------------------------------------------


def _int(value: object, field: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise LoyaltyInvalid(
            f"{field} must be a whole number >= {minimum}; got {value!r}", details={"field": field}
        )
    return value


def _time(value: object, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return parse_timestamp(str(value))
    except ValueError:
        raise LoyaltyInvalid(f"{field} must be an RFC 3339 timestamp; got {value!r}") from None


def parse_cap(value: object, field: str) -> PeriodCap | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("period") not in PERIODS:
        raise LoyaltyInvalid(
            f'{field} must be {{"points": N, "period": one of {", ".join(PERIODS)}}}',
            details={"field": field},
        )
    return PeriodCap(_int(value.get("points"), f"{field}.points"), str(value["period"]))


def _factor(value: object, field: str) -> Fraction:
    try:
        factor = Fraction(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        raise LoyaltyInvalid(f'{field} must be a decimal such as "2" or "1.5"') from None
    if factor <= 1:
        raise LoyaltyInvalid(f"{field} must be greater than 1; got {value!r}")
    return factor


def parse_rule(raw: object, index: int) -> EarnRule:
    where = f"earning_rules[{index}]"
    if not isinstance(raw, dict):
        raise LoyaltyInvalid(f"{where} must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise LoyaltyInvalid(f"{where}.name: cannot be blank")
    kind = raw.get("type", "rate")
    if kind not in RULE_TYPES:
        raise LoyaltyInvalid(f"{where}.type must be one of {', '.join(RULE_TYPES)}; got {kind!r}")
    conditions = raw.get("conditions") or {}
    if not isinstance(conditions, dict):
        raise LoyaltyInvalid(f"{where}.conditions must be an object")
    metadata = conditions.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise LoyaltyInvalid(f"{where}.conditions.metadata must be an object")
    currency = raw.get("currency")
    if kind == "rate" and not currency:
        raise LoyaltyInvalid(f"{where}.currency is required for a rate rule")
    rule = EarnRule(
        name=name.strip(),
        type=kind,
        points=_int(
            raw.get("points", 0), f"{where}.points", minimum=1 if kind != "multiplier" else 0
        ),
        per_amount=_int(raw.get("per_amount", 100), f"{where}.per_amount", minimum=1),
        factor=_factor(raw.get("factor"), f"{where}.factor")
        if kind == "multiplier"
        else Fraction(1),
        currency=str(currency).lower() if currency else None,
        metadata=dict(metadata),
        min_amount=_int(conditions.get("min_amount", 0), f"{where}.conditions.min_amount"),
        active_from=_time(conditions.get("active_from"), f"{where}.conditions.active_from"),
        active_until=_time(conditions.get("active_until"), f"{where}.conditions.active_until"),
        cap_per_payment=None
        if raw.get("cap_per_payment") is None
        else _int(raw.get("cap_per_payment"), f"{where}.cap_per_payment"),
        cap_per_member=parse_cap(raw.get("cap_per_member"), f"{where}.cap_per_member"),
        priority=_int(raw.get("priority", 0), f"{where}.priority", minimum=-(10**6)),
        stackable=bool(raw.get("stackable", True)),
        active=bool(raw.get("active", True)),
    )
    if rule.active_from and rule.active_until and rule.active_from >= rule.active_until:
        raise LoyaltyInvalid(f"{where}: active_from must be before active_until")
    return rule


def parse_rules(raw: object) -> list[EarnRule]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise LoyaltyInvalid("earning_rules must be a list")
    rules = [parse_rule(item, i) for i, item in enumerate(raw)]
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise LoyaltyInvalid("earning_rules: every rule needs a unique name")
    return rules


def rule_view(rule: EarnRule) -> dict[str, Any]:
    view: dict[str, Any] = {"name": rule.name, "type": rule.type}
    if rule.type == "rate":
        view.update(points=rule.points, per_amount=rule.per_amount)
    elif rule.type == "fixed":
        view["points"] = rule.points
    else:
        view["factor"] = str(Decimal(rule.factor.numerator) / Decimal(rule.factor.denominator))
    conditions: dict[str, Any] = {}
    if rule.metadata:
        conditions["metadata"] = rule.metadata
    if rule.min_amount:
        conditions["min_amount"] = rule.min_amount
    if rule.active_from:
        conditions["active_from"] = format_timestamp(rule.active_from)
    if rule.active_until:
        conditions["active_until"] = format_timestamp(rule.active_until)
    view.update(
        currency=rule.currency,
        conditions=conditions,
        cap_per_payment=rule.cap_per_payment,
        cap_per_member=cap_view(rule.cap_per_member),
        priority=rule.priority,
        stackable=rule.stackable,
        active=rule.active,
    )
    return view


def cap_view(cap: PeriodCap | None) -> dict[str, Any] | None:
    return None if cap is None else {"points": cap.points, "period": cap.period}


# ---- evaluation -------------------------------------------------------------------------------


def ordered(rules: list[EarnRule]) -> list[EarnRule]:
    return [r for _, r in sorted(enumerate(rules), key=lambda p: (p[1].priority, p[0]))]


def usage_keys(rules: list[EarnRule], program_cap: PeriodCap | None, at: datetime) -> set[UsageKey]:
    """The (scope, period start) counters an evaluation at ``at`` reads."""
    keys = {
        (r.name, period_start(r.cap_per_member.period, at))
        for r in rules
        if r.cap_per_member is not None
    }
    if program_cap is not None:
        keys.add((PROGRAM_SCOPE, period_start(program_cap.period, at)))
    return keys


def _skip_reason(rule: EarnRule, purchase: Purchase) -> str | None:
    if not rule.active:
        return "rule is inactive"
    if rule.currency is not None and rule.currency != purchase.currency:
        return f"payment currency {purchase.currency} is not the rule's {rule.currency}"
    if rule.active_from is not None and purchase.at < rule.active_from:
        return f"rule starts at {format_timestamp(rule.active_from)}"
    if rule.active_until is not None and purchase.at >= rule.active_until:
        return f"rule ended at {format_timestamp(rule.active_until)}"
    if purchase.amount < rule.min_amount:
        return f"amount charged {purchase.amount} is below the minimum spend {rule.min_amount}"
    for key, wanted in rule.metadata.items():
        have = purchase.metadata.get(key)
        options = wanted if isinstance(wanted, list) else [wanted]
        if have is None or have not in options:
            return f"metadata.{key} is {have!r}, the rule needs {wanted!r}"
    return None


def _raw_points(rule: EarnRule, purchase: Purchase, base: int) -> int:
    if rule.type == "rate":
        return purchase.amount * rule.points // rule.per_amount
    if rule.type == "fixed":
        return rule.points
    extra = base * (rule.factor - 1)
    return extra.numerator // extra.denominator


def _capped(points: int, cap: int | None, used: int, what: str) -> tuple[int, str]:
    if cap is None or points <= cap - used:
        return points, ""
    left = max(cap - used, 0)
    return left, f"; capped at {left} by {what} ({cap})"


def evaluate(
    rules: list[EarnRule],
    purchase: Purchase,
    *,
    usage: dict[UsageKey, int],
    cap_per_payment: int | None = None,
    cap_per_member: PeriodCap | None = None,
) -> EarnResult:
    """Points a purchase earns, and per rule whether and why it applied."""
    outcomes: list[RuleOutcome] = []
    added: dict[UsageKey, int] = {}
    base = total = 0
    stopped_by: str | None = None
    for rule in ordered(rules):
        if stopped_by is not None:
            outcomes.append(
                RuleOutcome(
                    rule.name,
                    rule.type,
                    False,
                    0,
                    f"not evaluated: rule {stopped_by} is not stackable",
                )
            )
            continue
        reason = _skip_reason(rule, purchase)
        if reason is not None:
            outcomes.append(RuleOutcome(rule.name, rule.type, False, 0, reason))
            continue
        points = _raw_points(rule, purchase, base)
        note = ""
        points, more = _capped(points, rule.cap_per_payment, 0, "cap_per_payment")
        note += more
        if rule.cap_per_member is not None:
            key = (rule.name, period_start(rule.cap_per_member.period, purchase.at))
            points, more = _capped(
                points,
                rule.cap_per_member.points,
                usage.get(key, 0),
                f"cap_per_member per {rule.cap_per_member.period}",
            )
            note += more
            if points:
                added[key] = added.get(key, 0) + points
        if rule.type == "rate":
            base += points
        total += points
        outcomes.append(RuleOutcome(rule.name, rule.type, True, points, _why(rule) + note))
        if not rule.stackable:
            stopped_by = rule.name
    total = _program_caps(total, purchase, usage, added, outcomes, cap_per_payment, cap_per_member)
    return EarnResult(total, outcomes, added)


def _why(rule: EarnRule) -> str:
    if rule.type == "rate":
        return f"{rule.points} point(s) per {rule.per_amount} {rule.currency} minor units, floored"
    if rule.type == "fixed":
        return f"fixed bonus of {rule.points} point(s)"
    return f"x{rule_view(rule)['factor']} on the rate points before it, floored"


def _program_caps(
    total: int,
    purchase: Purchase,
    usage: dict[UsageKey, int],
    added: dict[UsageKey, int],
    outcomes: list[RuleOutcome],
    per_payment: int | None,
    per_member: PeriodCap | None,
) -> int:
    capped, note = _capped(total, per_payment, 0, "the program's cap_per_payment")
    if per_member is not None:
        key = (PROGRAM_SCOPE, period_start(per_member.period, purchase.at))
        capped, more = _capped(
            capped,
            per_member.points,
            usage.get(key, 0),
            f"the program's cap_per_member per {per_member.period}",
        )
        note += more
        if capped:
            added[key] = capped
    if note:
        outcomes.append(RuleOutcome("program caps", "cap", True, capped - total, note[2:]))
    return capped
