"""Ids are canonical time-ordered UUIDs, unique within a process and across a fork."""

from __future__ import annotations

import itertools
import os
import time
import uuid

from tally.core.ids import has_prefix, new_id, time_uuid


def test_ids_are_canonical_version_7_uuids_with_their_prefix() -> None:
    seen = {new_id("txn") for _ in range(20_000)}
    assert len(seen) == 20_000
    for value in list(seen)[:2_000]:
        assert has_prefix(value, "txn")
        parsed = uuid.UUID(value[4:])
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == value[4:]


def test_an_id_carries_the_millisecond_it_was_minted_in() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid.UUID(time_uuid())
    after = time.time_ns() // 1_000_000
    assert before <= value.int >> 80 <= after


def test_ids_minted_later_sort_later() -> None:
    first = [time_uuid() for _ in range(1_000)]
    deadline = time.monotonic() + 1
    while time.time_ns() // 1_000_000 == uuid.UUID(first[-1]).int >> 80:
        assert time.monotonic() < deadline  # the clock moves on within a second
    later = [time_uuid() for _ in range(1_000)]
    assert max(first) < min(later)


def test_the_ids_of_one_process_strictly_increase() -> None:
    minted = [time_uuid() for _ in range(50_000)]  # many within one clock tick
    assert all(a < b for a, b in itertools.pairwise(minted))


def test_every_variant_digit_occurs() -> None:
    digits = {time_uuid()[19] for _ in range(2_000)}
    assert digits == set("89ab")


def test_62_bits_are_random() -> None:
    tails = [uuid.UUID(time_uuid()).int & ((1 << 62) - 1) for _ in range(2_000)]
    assert len(set(tails)) == 2_000
    # every one of the 62 bits is set in some ids and clear in others
    assert all(0 < sum(t >> bit & 1 for t in tails) < len(tails) for bit in range(62))


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    time_uuid()  # the parent has a buffer read ahead
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        os.write(write, "\n".join(time_uuid() for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split("\n"))
    os.waitpid(pid, 0)
    parent = {time_uuid() for _ in range(50)}
    assert len(child) == 50 and not child & parent
