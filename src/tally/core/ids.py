"""Prefixed identifiers: ``<prefix>_<uuid4>`` as Blnk does (``ldg_``, ``bln_``, ``txn_`` ...)."""

from __future__ import annotations

import uuid

GENERAL_LEDGER_ID = "general_ledger_id"


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4()}"


def has_prefix(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "_")
