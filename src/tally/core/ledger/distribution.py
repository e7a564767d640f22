"""Splitting one amount over several sources or destinations.

A leg's share is one of: a percent (``"10%"``), a fixed major-unit amount (``"12.50"``), a fixed
minor-unit amount (``precise_distribution``), or ``"left"`` (whatever remains; at most one leg).

Rounding, written down once:
1. Fixed legs are taken first, exactly; together they may not exceed the total.
2. Percent legs are percentages of the *total*; each gets the whole minor units of its exact share.
3. With a ``left`` leg, it receives everything not yet assigned (so rounding dust lands there).
4. Without one, the shares must cover the total exactly (percents and fixed adding to 100 %); the
   minor units lost to rounding go one each to the percent legs with the largest fractional parts,
   ties to the earlier leg (largest-remainder method). Nothing is ever lost or invented.
   Shares are computed as exact fractions, whatever the size of the total.
Legs that come out at zero move nothing and are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from tally.core.errors import InvalidDistribution

from .amounts import to_minor

MAX_PERCENT_PLACES = 18


@dataclass(frozen=True, slots=True)
class Share:
    identifier: str
    distribution: str | None = None
    precise_distribution: str | int | None = None


def _percent(text: str) -> Decimal:
    try:
        value = Decimal(text[:-1].strip())
    except InvalidOperation:
        raise InvalidDistribution(f"distribution {text!r} is not a valid percentage") from None
    if not value.is_finite() or value <= 0 or value > 100:
        raise InvalidDistribution(f"distribution {text!r} must be above 0% and at most 100%")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_PERCENT_PLACES:
        raise InvalidDistribution(
            f"distribution {text!r} has more than {MAX_PERCENT_PLACES} decimal places"
        )
    return value


def split(total: int, precision: int, shares: list[Share]) -> list[tuple[str, int]]:
    """Return ``(identifier, minor_amount)`` per leg, in the order given, summing to ``total``."""
    if not shares:
        raise InvalidDistribution("at least one leg is required")
    seen: set[str] = set()
    fixed: dict[int, int] = {}
    percent: dict[int, Decimal] = {}
    left_index: int | None = None
    for index, share in enumerate(shares):
        if not share.identifier:
            raise InvalidDistribution(f"leg {index + 1} has no identifier")
        if share.identifier in seen:
            raise InvalidDistribution(f"{share.identifier} appears in more than one leg")
        seen.add(share.identifier)
        kind = _classify(share, precision)
        if kind == "left":
            if left_index is not None:
                raise InvalidDistribution("only one leg may take what is left")
            left_index = index
        elif isinstance(kind, Decimal):
            percent[index] = kind
        elif isinstance(kind, int):
            fixed[index] = kind
    amounts = [0] * len(shares)
    remaining = total
    for index, value in fixed.items():
        if value > remaining:
            raise InvalidDistribution(
                f"fixed leg {shares[index].identifier} ({value}) exceeds what remains ({remaining})"
            )
        amounts[index] = value
        remaining -= value
    if sum((Fraction(p) for p in percent.values()), Fraction(0)) > 100:
        raise InvalidDistribution("percentages add up to more than 100%")
    exact = {i: Fraction(total) * Fraction(p) / 100 for i, p in percent.items()}
    for index, portion in exact.items():
        amounts[index] = int(portion)
    assigned = sum(amounts)
    if assigned > total:
        raise InvalidDistribution("the legs add up to more than the transaction amount")
    if left_index is not None:
        amounts[left_index] = total - assigned
    else:
        if sum(exact.values(), Fraction(0)) + sum(fixed.values()) != total:
            raise InvalidDistribution(
                "the legs do not add up to the transaction amount; "
                "adjust them or give one leg the distribution 'left'"
            )
        dust = total - assigned
        order = sorted(exact, key=lambda i: (-(exact[i] - int(exact[i])), i))
        for index in order[:dust]:
            amounts[index] += 1
    return [(s.identifier, a) for s, a in zip(shares, amounts, strict=True) if a > 0]


def _classify(share: Share, precision: int) -> str | Decimal | int:
    if share.precise_distribution is not None and share.precise_distribution != "":
        raw = share.precise_distribution
        if isinstance(raw, str) and raw.strip().lower() == "left":
            return "left"
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise InvalidDistribution(
                f"precise_distribution {raw!r} must be whole minor units or 'left'"
            ) from None
        if value < 0:
            raise InvalidDistribution("a leg cannot be negative")
        return value
    text = (share.distribution or "").strip()
    if not text:
        raise InvalidDistribution(f"leg {share.identifier} has no distribution")
    if text.lower() == "left":
        return "left"
    if text.endswith("%"):
        return _percent(text)
    try:
        value = to_minor(text, precision, field="distribution")
    except Exception:
        raise InvalidDistribution(
            f"distribution {text!r} must be a percentage ('10%'), an amount ('12.50') or 'left'"
        ) from None
    if value < 0:
        raise InvalidDistribution("a leg cannot be negative")
    return value
