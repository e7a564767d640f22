"""Wire schemas for the Blnk-compatible ledger API (msgspec Structs; unknown keys are ignored)."""

from __future__ import annotations

from typing import Any

import msgspec


class LedgerIn(msgspec.Struct, kw_only=True):
    name: str | None = None
    meta_data: dict[str, Any] | None = None


class LedgerUpdate(msgspec.Struct, kw_only=True):
    name: str | None = None


class BalanceIn(msgspec.Struct, kw_only=True):
    ledger_id: str | None = None
    currency: str | None = None
    identity_id: str | None = None
    indicator: str | None = None
    meta_data: dict[str, Any] | None = None
    allow_overdraft: bool | None = None
    precision: int | float | None = None
    track_fund_lineage: bool = False
    allocation_strategy: str | None = None


class BalanceIdentityIn(msgspec.Struct, kw_only=True):
    identity_id: str | None = None


class BalanceOverdraftIn(msgspec.Struct, kw_only=True):
    allow_overdraft: bool


class LegIn(msgspec.Struct, kw_only=True):
    identifier: str = ""
    distribution: str | None = None
    precise_distribution: str | int | None = None
    narration: str | None = None


class TransactionIn(msgspec.Struct, kw_only=True):
    currency: str | None = None
    reference: str | None = None
    description: str | None = None
    amount: int | float | None = None
    precise_amount: int | str | None = None
    precision: int | float | None = None
    source: str | None = None
    destination: str | None = None
    sources: list[LegIn] | None = None
    destinations: list[LegIn] | None = None
    allow_overdraft: bool = False
    overdraft_limit: int | float | None = None
    inflight: bool = False
    skip_queue: bool = False
    atomic: bool = False
    dry_run: bool = False
    meta_data: dict[str, Any] | None = None
    effective_date: str | None = None
    scheduled_for: str | None = None
    inflight_expiry_date: str | None = None
    inflight_commit_date: str | None = None
    rate: float | None = None


class BulkIn(msgspec.Struct, kw_only=True):
    transactions: list[TransactionIn] | None = None
    atomic: bool = False
    inflight: bool = False
    skip_queue: bool = False
    run_async: bool = False
    dry_run: bool = False


class InflightUpdateIn(msgspec.Struct, kw_only=True):
    status: str | None = None
    amount: int | float | None = None
    precise_amount: int | str | None = None
    meta_data: dict[str, Any] | None = None
    skip_queue: bool = False
    dry_run: bool = False


class BulkCommitItem(msgspec.Struct, kw_only=True):
    transaction_id: str
    amount: int | float | None = None
    precise_amount: int | str | None = None


class BulkCommitIn(msgspec.Struct, kw_only=True):
    transactions: list[BulkCommitItem]
    skip_queue: bool = False


class BulkVoidIn(msgspec.Struct, kw_only=True):
    transaction_ids: list[str]
    skip_queue: bool = False


class RefundIn(msgspec.Struct, kw_only=True):
    skip_queue: bool = False
    dry_run: bool = False
    description: str | None = None
    meta_data: dict[str, Any] | None = None
    allow_overdraft: bool = False


class IdentityIn(msgspec.Struct, kw_only=True):
    identity_id: str | None = None
    identity_type: str | None = None
    organization_name: str | None = None
    category: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    other_names: str | None = None
    gender: str | None = None
    email_address: str | None = None
    phone_number: str | None = None
    nationality: str | None = None
    street: str | None = None
    country: str | None = None
    state: str | None = None
    post_code: str | None = None
    city: str | None = None
    dob: str | None = None
    meta_data: dict[str, Any] | None = None


class MetadataIn(msgspec.Struct, kw_only=True):
    meta_data: dict[str, Any] | None = None


class ApiKeyIn(msgspec.Struct, kw_only=True):
    name: str | None = None
    owner: str | None = None
    scopes: list[str] | None = None
    expires_at: str | None = None
