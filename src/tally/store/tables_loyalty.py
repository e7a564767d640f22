"""Loyalty and payment tables. Points live on the ledger; these rows say why they moved."""

from __future__ import annotations

import sqlalchemy as sa

from .tables import metadata
from .types import Amount, Json, Micros

_ID = sa.String(80)


def _pk() -> sa.Column[int]:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    )


loyalty_programs = sa.Table(
    "loyalty_programs",
    metadata,
    _pk(),
    sa.Column("program_id", _ID, nullable=False, unique=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("ledger_id", _ID, sa.ForeignKey("ledgers.ledger_id"), nullable=False),
    sa.Column("point_unit", sa.String(32), nullable=False),
    sa.Column("issuing_balance_id", _ID, nullable=False),
    sa.Column("redemption_balance_id", _ID, nullable=False),
    sa.Column("pending_balance_id", _ID, nullable=False),
    sa.Column("config", Json, nullable=False),
    sa.Column("meta_data", Json, nullable=False),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("updated_at", Micros, nullable=False),
)

loyalty_customers = sa.Table(
    "loyalty_customers",
    metadata,
    _pk(),
    sa.Column("customer_id", _ID, nullable=False, unique=True),
    sa.Column("name", sa.String(255), nullable=False, server_default=""),
    sa.Column("email", sa.String(255), nullable=False, server_default=""),
    sa.Column("meta_data", Json, nullable=False),
    sa.Column("created_at", Micros, nullable=False, index=True),
)

loyalty_accounts = sa.Table(
    "loyalty_accounts",
    metadata,
    _pk(),
    sa.Column("account_id", _ID, nullable=False, unique=True),
    sa.Column("program_id", _ID, sa.ForeignKey("loyalty_programs.program_id"), nullable=False),
    sa.Column("customer_id", _ID, sa.ForeignKey("loyalty_customers.customer_id"), nullable=True),
    sa.Column("balance_id", _ID, nullable=False, unique=True),
    sa.Column("deficit", Amount, nullable=False),
    sa.Column("meta_data", Json, nullable=False),
    sa.Column("created_at", Micros, nullable=False),
    sa.UniqueConstraint("program_id", "customer_id"),
    sa.Index("ix_loyalty_accounts_customer_id", "customer_id"),
    sa.Index("ix_loyalty_accounts_program_created", "program_id", "created_at"),
)

loyalty_rewards = sa.Table(
    "loyalty_rewards",
    metadata,
    _pk(),
    sa.Column("reward_id", _ID, nullable=False, unique=True),
    sa.Column("program_id", _ID, sa.ForeignKey("loyalty_programs.program_id"), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("points_cost", Amount, nullable=False),
    sa.Column("discount_amount", Amount, nullable=False),
    sa.Column("currency", sa.String(16), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("meta_data", Json, nullable=False),
    sa.Column("created_at", Micros, nullable=False),
    sa.Index("ix_loyalty_rewards_program_id", "program_id"),
)

payments = sa.Table(
    "payments",
    metadata,
    _pk(),
    sa.Column("payment_id", _ID, nullable=False, unique=True),
    sa.Column("amount", Amount, nullable=False),
    sa.Column("currency", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("customer_id", _ID, nullable=True),
    sa.Column("account_id", _ID, nullable=True),
    sa.Column("program_id", _ID, nullable=True),
    sa.Column("amount_discount", Amount, nullable=False),
    sa.Column("amount_refunded", Amount, nullable=False),
    sa.Column("points_earned", Amount, nullable=False),
    sa.Column("points_clawed_back", Amount, nullable=False),
    sa.Column("points_redeemed", Amount, nullable=False),
    sa.Column("points_restored", Amount, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("meta_data", Json, nullable=False),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("completed_at", Micros, nullable=True),
    sa.Column("failed_at", Micros, nullable=True),
    sa.Column("failure_reason", sa.Text, nullable=True),
    sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
    sa.Index("ix_payments_account_id", "account_id"),
    sa.Index("ix_payments_customer_id", "customer_id"),
    sa.Index("ix_payments_created_at", "created_at"),
)

refunds = sa.Table(
    "refunds",
    metadata,
    _pk(),
    sa.Column("refund_id", _ID, nullable=False, unique=True),
    sa.Column("payment_id", _ID, sa.ForeignKey("payments.payment_id"), nullable=False),
    sa.Column("amount", Amount, nullable=False),
    sa.Column("currency", sa.String(16), nullable=False),
    sa.Column("points_due", Amount, nullable=False),
    sa.Column("points_clawed_back", Amount, nullable=False),
    sa.Column("points_restored", Amount, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("meta_data", Json, nullable=False),
    sa.Column("created_at", Micros, nullable=False),
    sa.Index("ix_refunds_payment_id", "payment_id"),
)

loyalty_redemptions = sa.Table(
    "loyalty_redemptions",
    metadata,
    _pk(),
    sa.Column("redemption_id", _ID, nullable=False, unique=True),
    sa.Column("program_id", _ID, nullable=False),
    sa.Column("account_id", _ID, sa.ForeignKey("loyalty_accounts.account_id"), nullable=False),
    sa.Column("reward_id", _ID, nullable=False),
    sa.Column("points", Amount, nullable=False),
    sa.Column("discount_amount", Amount, nullable=False),
    sa.Column("currency", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("payment_id", _ID, nullable=True),
    sa.Column("hold_transaction_id", _ID, nullable=False),
    sa.Column("settle_transaction_id", _ID, nullable=True),
    sa.Column("release_reason", sa.String(32), nullable=True),
    sa.Column("expires_at", Micros, nullable=False),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("updated_at", Micros, nullable=False),
    sa.Index("ix_loyalty_redemptions_state_expires", "state", "expires_at"),
    sa.Index("ix_loyalty_redemptions_payment_id", "payment_id"),
    sa.Index("ix_loyalty_redemptions_account_id", "account_id"),
)

points_transactions = sa.Table(
    "points_transactions",
    metadata,
    _pk(),
    sa.Column("ptx_id", _ID, nullable=False, unique=True),
    sa.Column("account_id", _ID, sa.ForeignKey("loyalty_accounts.account_id"), nullable=False),
    sa.Column("program_id", _ID, nullable=False),
    sa.Column("points", Amount, nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("ledger_transaction", _ID, nullable=True),
    sa.Column("payment_id", _ID, nullable=True),
    sa.Column("refund_id", _ID, nullable=True),
    sa.Column("redemption_id", _ID, nullable=True),
    sa.Column("amount", Amount, nullable=True),
    sa.Column("currency", sa.String(16), nullable=True),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("available_at", Micros, nullable=True),
    sa.Column("details", Json, nullable=False),
    sa.Column("created_at", Micros, nullable=False),
    sa.Index("ix_points_transactions_account_created", "account_id", "created_at"),
    sa.Index("ix_points_transactions_payment_id", "payment_id"),
    sa.Index("ix_points_transactions_created_at", "created_at"),
)

points_lots = sa.Table(
    "points_lots",
    metadata,
    _pk(),
    sa.Column("lot_id", _ID, nullable=False, unique=True),
    sa.Column("account_id", _ID, sa.ForeignKey("loyalty_accounts.account_id"), nullable=False),
    sa.Column("program_id", _ID, nullable=False),
    sa.Column("ptx_id", _ID, nullable=False),
    sa.Column("payment_id", _ID, nullable=True),
    sa.Column("amount", Amount, nullable=False),
    sa.Column("remaining", Amount, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("available_at", Micros, nullable=False),
    sa.Column("expires_at", Micros, nullable=True),
    sa.Column("vest_transaction", _ID, nullable=True),
    sa.Column("created_at", Micros, nullable=False),
    sa.CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining_in_range"),
    sa.Index("ix_points_lots_account_state", "account_id", "state"),
    sa.Index("ix_points_lots_state_available", "state", "available_at"),
    sa.Index("ix_points_lots_state_expires", "state", "expires_at"),
    sa.Index("ix_points_lots_payment_id", "payment_id"),
)

points_lot_holds = sa.Table(
    "points_lot_holds",
    metadata,
    sa.Column("redemption_id", _ID, primary_key=True),
    sa.Column("lot_id", _ID, primary_key=True),
    sa.Column("points", Amount, nullable=False),
)

loyalty_earn_usage = sa.Table(
    "loyalty_earn_usage",
    metadata,
    sa.Column("account_id", _ID, primary_key=True),
    sa.Column("scope", sa.String(255), primary_key=True),
    sa.Column("period_start", Micros, primary_key=True),
    sa.Column("points", Amount, nullable=False),
)
