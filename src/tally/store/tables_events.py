"""Tables of the events capability: webhook endpoints, deliveries and their attempts, the relay's
position in the outbox, scheduled jobs, and balance monitors."""

from __future__ import annotations

import sqlalchemy as sa

from .tables import metadata
from .types import Amount, Json, Micros

_BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("endpoint_id", sa.String(80), nullable=False, unique=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("event_types", Json, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # enabled | disabled | deleted
    sa.Column("disabled_reason", sa.Text, nullable=True),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("previous_secret", sa.Text, nullable=True),
    sa.Column("previous_secret_expires_at", Micros, nullable=True),
    sa.Column("meta_data", Json, nullable=False),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("updated_at", Micros, nullable=False),
    sa.Index("ix_webhook_endpoints_status", "status"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.String(80), nullable=False, unique=True),
    sa.Column("endpoint_id", sa.String(80), nullable=False),
    sa.Column("event_id", sa.String(80), nullable=False),
    sa.Column("event_type", sa.String(80), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending | succeeded | failed | cancelled
    sa.Column("trigger", sa.String(16), nullable=False),  # event | resend | recover
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", Micros, nullable=False),
    sa.Column("started_at", Micros, nullable=False),
    sa.Column("lease_id", sa.String(40), nullable=True),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("updated_at", Micros, nullable=False),
    sa.Column("delivered_at", Micros, nullable=True),
    sa.UniqueConstraint("endpoint_id", "event_id"),
    sa.Index("ix_webhook_deliveries_due", "endpoint_id", "state", "next_attempt_at"),
    sa.Index("ix_webhook_deliveries_event_id", "event_id"),
    sa.Index("ix_webhook_deliveries_created_at", "created_at"),
)

webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("attempt_id", sa.String(80), nullable=False, unique=True),
    sa.Column("delivery_id", sa.String(80), nullable=False),
    sa.Column("endpoint_id", sa.String(80), nullable=False),
    sa.Column("event_id", sa.String(80), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("trigger", sa.String(16), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("response_excerpt", sa.Text, nullable=True),
    sa.Column("succeeded", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("attempted_at", Micros, nullable=False),
    sa.Index("ix_webhook_attempts_delivery_id", "delivery_id"),
    sa.Index("ix_webhook_attempts_endpoint_id", "endpoint_id", "attempted_at"),
)

event_cursors = sa.Table(
    "event_cursors",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("gaps", Json, nullable=False),
    sa.Column("updated_at", Micros, nullable=False),
)

scheduled_jobs = sa.Table(
    "scheduled_jobs",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(80), nullable=False, unique=True),
    sa.Column("kind", sa.String(80), nullable=False),
    sa.Column("subject_id", sa.String(200), nullable=False),
    sa.Column("due_at", Micros, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending | done | failed | cancelled
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lease_id", sa.String(40), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("payload", Json, nullable=False),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("updated_at", Micros, nullable=False),
    sa.Column("finished_at", Micros, nullable=True),
    sa.UniqueConstraint("kind", "subject_id"),
    sa.Index("ix_scheduled_jobs_due", "state", "due_at"),
)

balance_monitors = sa.Table(
    "balance_monitors",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("monitor_id", sa.String(80), nullable=False, unique=True),
    sa.Column("balance_id", sa.String(80), sa.ForeignKey("balances.balance_id"), nullable=False),
    sa.Column("field", sa.String(40), nullable=False),
    sa.Column("operator", sa.String(4), nullable=False),
    sa.Column("value", sa.String(80), nullable=False),
    sa.Column("precision", Amount, nullable=False),
    sa.Column("precise_value", Amount, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("call_back_url", sa.Text, nullable=False, server_default=""),
    sa.Column("meta_data", Json, nullable=False),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("updated_at", Micros, nullable=False),
    sa.Index("ix_balance_monitors_balance_id", "balance_id"),
)
