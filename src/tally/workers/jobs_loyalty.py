"""Loyalty's due work for the scheduler: redemption holds that time out, pending points that
become available, and lots that expire. Each job names one subject and is idempotent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tally.store import loyalty_due
from tally.store.loyalty_posting import EXPIRE_JOB, VEST_JOB
from tally.store.loyalty_redemptions import RELEASE_JOB, release

from .scheduler import Job, register_job_handler

if TYPE_CHECKING:
    from tally.services import Services


async def release_redemption(services: Services, job: Job) -> None:
    await release(services, job.subject_id, "expired", only_if_due=True)


async def vest_points(services: Services, job: Job) -> None:
    await loyalty_due.vest_lot(services, job.subject_id)


async def expire_points(services: Services, job: Job) -> None:
    await loyalty_due.expire_lot(services, job.subject_id)


register_job_handler(RELEASE_JOB, release_redemption)
register_job_handler(VEST_JOB, vest_points)
register_job_handler(EXPIRE_JOB, expire_points)
