"""Prefixed identifiers: ``<prefix>_<uuid>`` as Blnk does (``ldg_``, ``bln_``, ``txn_`` ...).

Ids are **time-ordered** UUIDs (version 7, RFC 9562): 48 bits of Unix milliseconds, 12 bits of
sub-millisecond time (the RFC's "increased clock precision" method) and 62 random bits. Ids
minted one after another sort one after another, so every unique index on an id (transactions,
events, jobs ...) grows at its right edge: a batch of 500 postings writes a handful of index pages
instead of one page per row, which measured 35-50 % more postings/s on SQLite and 8 % on
PostgreSQL (`docs/decisions/0003-time-ordered-ids.md`). They stay unguessable in practice (62
random bits) but are not secrets: secrets come from ``secrets`` (API keys, webhook secrets).

Every posting needs a few ids, so they are cheap: random bytes are read from the operating
system 4 KiB at a time (one system call per 512 ids instead of one per id) and formatted
directly. The bytes are the same ``os.urandom`` that ``uuid.uuid4`` uses; a forked child process
drops its parent's buffer, so two processes never hand out the same ids.
"""

from __future__ import annotations

import os
import threading
import time

GENERAL_LEDGER_ID = "general_ledger_id"

_CHUNK = 8 * 512
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


class _Minter:
    """Time stamps that only go up, and random bytes read ahead as hex text.

    A stamp is the Unix time in units of 1/4096 ms (the UUID's 48 + 12 time bits); when the clock
    has not moved on (or went back) since the last id, the stamp is the last one plus one, so the
    ids of one process are strictly increasing."""

    __slots__ = ("last", "lock", "pos", "text")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last = 0
        self.reset()

    def reset(self) -> None:
        self.text, self.pos = "", 0

    def take(self) -> tuple[int, str]:
        ns = time.time_ns()
        stamp = (ns // 1_000_000) << 12 | (ns % 1_000_000) * 4096 // 1_000_000
        with self.lock:
            if stamp <= self.last:
                stamp = self.last + 1
            self.last = stamp
            if self.pos >= len(self.text):
                self.text, self.pos = os.urandom(_CHUNK).hex(), 0
            pos = self.pos
            self.pos = pos + 16
            return stamp, self.text[pos : pos + 16]


_minter = _Minter()
os.register_at_fork(after_in_child=_minter.reset)


def time_uuid() -> str:
    """A time-ordered (version 7, RFC 9562 variant) UUID in its canonical text form."""
    stamp, h = _minter.take()
    t = f"{stamp:015x}"
    return f"{t[:8]}-{t[8:12]}-7{t[12:]}-{_VARIANT[h[0]]}{h[1:4]}-{h[4:]}"


def new_id(prefix: str) -> str:
    return f"{prefix}_{time_uuid()}"


def has_prefix(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "_")
