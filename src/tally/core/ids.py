"""Prefixed identifiers: ``<prefix>_<uuid4>`` as Blnk does (``ldg_``, ``bln_``, ``txn_`` ...).

Every posting needs a few ids, so they are cheap: random bytes are read from the operating
system 4 KiB at a time (one system call per 256 ids instead of one per id) and formatted as a
version-4 UUID directly. The bytes are the same ``os.urandom`` that ``uuid.uuid4`` uses; a forked
child process drops its parent's buffer, so two processes never hand out the same ids.
"""

from __future__ import annotations

import os
import threading

GENERAL_LEDGER_ID = "general_ledger_id"

_CHUNK = 16 * 256
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


class _RandomHex:
    """Random bytes as hex text, read ahead in chunks and handed out 16 bytes at a time."""

    __slots__ = ("lock", "pos", "text")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.text, self.pos = "", 0

    def take32(self) -> str:
        with self.lock:
            if self.pos >= len(self.text):
                self.text, self.pos = os.urandom(_CHUNK).hex(), 0
            pos = self.pos
            self.pos = pos + 32
            return self.text[pos : pos + 32]


_random = _RandomHex()
os.register_at_fork(after_in_child=_random.reset)


def random_uuid() -> str:
    """A random (version 4, RFC 9562 variant) UUID in its canonical text form."""
    h = _random.take32()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def new_id(prefix: str) -> str:
    return f"{prefix}_{random_uuid()}"


def has_prefix(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "_")
