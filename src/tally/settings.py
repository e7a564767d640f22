"""Configuration, read once from the environment (``TALLY_*``). Secrets only come from here."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from ipaddress import ip_address

DEFAULT_DATABASE_URL = "sqlite:///./tally.db"


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 5001
    master_key: str | None = None
    environment: str = "development"  # development | production
    max_body_bytes: int = 5 * 1024 * 1024
    max_batch: int = 500
    flushers: int = 0  # 0 = engine default (2 on PostgreSQL, 1 on SQLite)
    pool_size: int = 20
    run_workers: bool = True
    auto_migrate: bool = True
    allow_loopback_webhooks: bool | None = None
    webhook_timeout_seconds: float = 10.0
    webhook_max_age_seconds: int = 3 * 24 * 3600
    webhook_retry_schedule: str = ""  # seconds between attempts, "5,300,..."; "" = standard
    webhook_secrets_key: str | None = None  # encrypts stored endpoint secrets when set
    worker_poll_seconds: float = 0.25
    # Retention (``store/retention.py``): 0 keeps for ever. The ledger itself is never pruned.
    event_retention_days: int = 90  # events, the delivery log, finished jobs
    idempotency_retention_hours: int = 24
    prune_interval_seconds: int = 3600  # how often the scheduler prunes; 0 = never
    card_fingerprint_key: str | None = None
    card_encryption_key: str | None = None
    card_hold_seconds: int = 7 * 24 * 3600  # virtual card authorization hold lifetime
    log_level: str = "info"
    gc_tuning: bool = False  # ``tuning.tune_gc`` when the services start (``tally serve``: on)
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("TALLY_DATABASE_URL") or DEFAULT_DATABASE_URL,
            host=os.environ.get("TALLY_HOST") or "127.0.0.1",
            port=_int("TALLY_PORT", 5001),
            master_key=os.environ.get("TALLY_MASTER_KEY") or None,
            environment=(os.environ.get("TALLY_ENV") or "development").lower(),
            max_body_bytes=_int("TALLY_MAX_BODY_BYTES", 5 * 1024 * 1024),
            max_batch=_int("TALLY_MAX_BATCH", 500),
            flushers=_int("TALLY_FLUSHERS", 0),
            pool_size=_int("TALLY_POOL_SIZE", 20),
            run_workers=_bool("TALLY_RUN_WORKERS", True),
            auto_migrate=_bool("TALLY_AUTO_MIGRATE", True),
            gc_tuning=_bool("TALLY_GC_TUNING", True),
            allow_loopback_webhooks=(
                _bool("TALLY_ALLOW_LOOPBACK_WEBHOOKS", False)
                if os.environ.get("TALLY_ALLOW_LOOPBACK_WEBHOOKS")
                else None
            ),
            webhook_timeout_seconds=float(os.environ.get("TALLY_WEBHOOK_TIMEOUT_SECONDS") or 10),
            webhook_max_age_seconds=_int("TALLY_WEBHOOK_MAX_AGE_SECONDS", 3 * 24 * 3600),
            webhook_retry_schedule=os.environ.get("TALLY_WEBHOOK_RETRY_SCHEDULE") or "",
            webhook_secrets_key=os.environ.get("TALLY_WEBHOOK_SECRETS_KEY") or None,
            worker_poll_seconds=float(os.environ.get("TALLY_WORKER_POLL_SECONDS") or 0.25),
            event_retention_days=_int("TALLY_EVENT_RETENTION_DAYS", 90),
            idempotency_retention_hours=_int("TALLY_IDEMPOTENCY_RETENTION_HOURS", 24),
            prune_interval_seconds=_int("TALLY_PRUNE_INTERVAL_SECONDS", 3600),
            card_fingerprint_key=os.environ.get("TALLY_CARD_FINGERPRINT_KEY") or None,
            card_encryption_key=os.environ.get("TALLY_CARD_ENCRYPTION_KEY") or None,
            card_hold_seconds=_int("TALLY_CARD_HOLD_SECONDS", 7 * 24 * 3600),
            log_level=os.environ.get("TALLY_LOG_LEVEL") or "info",
        )

    def with_overrides(self, **changes: object) -> Settings:
        clean = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **clean)  # type: ignore[arg-type]

    @property
    def auth_required(self) -> bool:
        return self.master_key is not None

    @property
    def loopback_webhooks_allowed(self) -> bool:
        if self.allow_loopback_webhooks is not None:
            return self.allow_loopback_webhooks
        return self.environment != "production"

    def check_bind(self) -> None:
        """Refuse to serve without auth anywhere but a loopback address."""
        if self.master_key is None and not is_loopback(self.host):
            raise SystemExit(
                f"refusing to listen on {self.host} without TALLY_MASTER_KEY: without a master key "
                "Tally serves without authentication, which is only allowed on a loopback address "
                "(127.0.0.1, ::1). Set TALLY_MASTER_KEY or bind to 127.0.0.1."
            )
