"""Points lots: every credit is a lot with an expiry; spending takes the soonest-expiring first.

Per account the store keeps ``available == sum(active lots' remaining) - deficit``: a deficit
(points clawed back beyond what the lots held) is paid off by the next credits before they become
spendable, and there is never a deficit while a lot has points left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True)
class Lot:
    lot_id: str
    remaining: int
    expires_at: datetime | None
    seq: int  # creation order, the tie-breaker


def spend_order(lots: list[Lot]) -> list[Lot]:
    """Soonest expiry first, lots that never expire last, then oldest first."""
    return sorted(lots, key=lambda lot: (lot.expires_at is None, lot.expires_at or 0, lot.seq))


def consume(lots: list[Lot], amount: int) -> tuple[list[tuple[str, int]], int]:
    """Take ``amount`` from ``lots``: ``([(lot_id, taken), ...], shortfall)``; lots are updated."""
    taken: list[tuple[str, int]] = []
    left = amount
    for lot in spend_order([lot for lot in lots if lot.remaining > 0]):
        if left <= 0:
            break
        take = min(lot.remaining, left)
        lot.remaining -= take
        left -= take
        taken.append((lot.lot_id, take))
    return taken, left


def pay_deficit(deficit: int, credit: int) -> tuple[int, int]:
    """A credit of ``credit`` points meets a deficit: ``(points left for the lot, new deficit)``."""
    paid = min(deficit, credit)
    return credit - paid, deficit - paid
