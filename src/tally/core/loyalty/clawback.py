"""How many points a refund takes back, and from where.

Proportional, on cumulative amounts so rounding never drifts: after refunds totalling ``R`` of a
payment that charged ``C`` and earned ``E``, ``floor(E * R / C)`` points are due in all; each refund
is due the difference from the refunds before it. A full refund is therefore due exactly ``E``,
and the sum of clawbacks never exceeds ``E`` (EUR 42.00 → 42 points; refund EUR 21.00 → 21).
The same formula restores redeemed points when the program says ``redeemed_points: restore``.

Where from: first the payment's own points that are still pending, then the member's available
points. With ``allow_negative`` the member may go below zero (the deficit is recorded and later
earnings pay it off first); without it, the clawback stops at what is available and the rest is
recorded as ``capped``.
"""

from __future__ import annotations

from dataclasses import dataclass


def proportional(total: int, charged: int, refunded_before: int, amount: int) -> int:
    """Points due for a refund of ``amount`` after ``refunded_before`` of ``charged``."""
    if charged == 0:
        return total if refunded_before == 0 else 0
    after = total * (refunded_before + amount) // charged
    before = total * refunded_before // charged
    return after - before


@dataclass(frozen=True, slots=True)
class ClawbackPlan:
    due: int
    from_pending: int
    from_account: int

    @property
    def points(self) -> int:
        return self.from_pending + self.from_account

    @property
    def capped(self) -> int:
        return self.due - self.points


def plan_clawback(
    due: int, *, pending_left: int, available: int, allow_negative: bool
) -> ClawbackPlan:
    from_pending = min(due, max(pending_left, 0))
    rest = due - from_pending
    from_account = rest if allow_negative else min(rest, max(available, 0))
    return ClawbackPlan(due, from_pending, from_account)
