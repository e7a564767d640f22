"""Ids are canonical random UUIDs, unique within a process and across a fork."""

from __future__ import annotations

import os
import uuid

from tally.core.ids import has_prefix, new_id, random_uuid


def test_ids_are_canonical_version_4_uuids_with_their_prefix() -> None:
    seen = {new_id("txn") for _ in range(20_000)}
    assert len(seen) == 20_000
    for value in list(seen)[:2_000]:
        assert has_prefix(value, "txn")
        parsed = uuid.UUID(value[4:])
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == value[4:]


def test_every_variant_digit_occurs() -> None:
    digits = {random_uuid()[19] for _ in range(2_000)}
    assert digits == set("89ab")


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    random_uuid()  # the parent has a buffer read ahead
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        os.write(write, "\n".join(random_uuid() for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split("\n"))
    os.waitpid(pid, 0)
    parent = {random_uuid() for _ in range(50)}
    assert len(child) == 50 and not child & parent
