"""Due work of virtual cards and card-linked offers, run by the scheduler.

- ``cards.authorization_expiry`` (subject: ``auth_``): a pending authorization past its
  ``expires_at`` is released and marked ``EXPIRED`` (``card.authorization.expired``).
- ``offers.points_hold_expiry`` (subject: the auth's ``ctx_``): a Pay with Points hold that was
  neither cleared nor reversed is released (``offer.points.released``).
- ``offers.redemption_final`` (subject: ``ofrd_``): a reward's return period ended; what is left
  of it becomes final (``offer.redemption.finalized``).

Each handler re-reads its subject and does nothing if the work was done already, so running a job
twice is harmless.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tally.store.cards_authorizations import EXPIRY_JOB, expire_authorization
from tally.store.offers_due import finalize_redemption
from tally.store.offers_feed import POINTS_HOLD_JOB, REDEMPTION_FINAL_JOB
from tally.store.offers_points import expire_points_hold

from .scheduler import Job, register_job_handler

if TYPE_CHECKING:
    from tally.services import Services


async def authorization_expiry(services: Services, job: Job) -> None:
    await expire_authorization(services, job.subject_id, services.clock.now())


async def points_hold_expiry(services: Services, job: Job) -> None:
    await expire_points_hold(services, job.subject_id, services.clock.now())


async def redemption_final(services: Services, job: Job) -> None:
    await finalize_redemption(services, job.subject_id, services.clock.now())


register_job_handler(EXPIRY_JOB, authorization_expiry)
register_job_handler(POINTS_HOLD_JOB, points_hold_expiry)
register_job_handler(REDEMPTION_FINAL_JOB, redemption_final)
