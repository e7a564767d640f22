"""loyalty and payments: programs, customers, accounts, rewards, redemptions, payments,
refunds, points transactions, lots and earn usage

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-22 03:21:13.924877
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tally.store.types

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "loyalty_customers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("customer_id", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("email", sa.String(length=255), server_default="", nullable=False),
        sa.Column(
            "meta_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_customers")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_loyalty_customers_customer_id")),
    )
    with op.batch_alter_table("loyalty_customers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loyalty_customers_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "loyalty_earn_usage",
        sa.Column("account_id", sa.String(length=80), nullable=False),
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("period_start", tally.store.types.Micros(), nullable=False),
        sa.Column("points", tally.store.types.Amount(), nullable=False),
        sa.PrimaryKeyConstraint(
            "account_id", "scope", "period_start", name=op.f("pk_loyalty_earn_usage")
        ),
    )
    op.create_table(
        "payments",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("payment_id", sa.String(length=80), nullable=False),
        sa.Column("amount", tally.store.types.Amount(), nullable=False),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.String(length=80), nullable=True),
        sa.Column("account_id", sa.String(length=80), nullable=True),
        sa.Column("program_id", sa.String(length=80), nullable=True),
        sa.Column("amount_discount", tally.store.types.Amount(), nullable=False),
        sa.Column("amount_refunded", tally.store.types.Amount(), nullable=False),
        sa.Column("points_earned", tally.store.types.Amount(), nullable=False),
        sa.Column("points_clawed_back", tally.store.types.Amount(), nullable=False),
        sa.Column("points_redeemed", tally.store.types.Amount(), nullable=False),
        sa.Column("points_restored", tally.store.types.Amount(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "meta_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.Column("completed_at", tally.store.types.Micros(), nullable=True),
        sa.Column("failed_at", tally.store.types.Micros(), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_payments_amount_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_payments_payment_id")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_account_id", ["account_id"], unique=False)
        batch_op.create_index("ix_payments_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_payments_customer_id", ["customer_id"], unique=False)

    op.create_table(
        "points_lot_holds",
        sa.Column("redemption_id", sa.String(length=80), nullable=False),
        sa.Column("lot_id", sa.String(length=80), nullable=False),
        sa.Column("points", tally.store.types.Amount(), nullable=False),
        sa.PrimaryKeyConstraint("redemption_id", "lot_id", name=op.f("pk_points_lot_holds")),
    )
    op.create_table(
        "loyalty_programs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("ledger_id", sa.String(length=80), nullable=False),
        sa.Column("point_unit", sa.String(length=32), nullable=False),
        sa.Column("issuing_balance_id", sa.String(length=80), nullable=False),
        sa.Column("redemption_balance_id", sa.String(length=80), nullable=False),
        sa.Column("pending_balance_id", sa.String(length=80), nullable=False),
        sa.Column(
            "config",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "meta_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.Column("updated_at", tally.store.types.Micros(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ledger_id"], ["ledgers.ledger_id"], name=op.f("fk_loyalty_programs_ledger_id_ledgers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_programs")),
        sa.UniqueConstraint("program_id", name=op.f("uq_loyalty_programs_program_id")),
    )
    op.create_table(
        "refunds",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("refund_id", sa.String(length=80), nullable=False),
        sa.Column("payment_id", sa.String(length=80), nullable=False),
        sa.Column("amount", tally.store.types.Amount(), nullable=False),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("points_due", tally.store.types.Amount(), nullable=False),
        sa.Column("points_clawed_back", tally.store.types.Amount(), nullable=False),
        sa.Column("points_restored", tally.store.types.Amount(), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "meta_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.payment_id"], name=op.f("fk_refunds_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("refund_id", name=op.f("uq_refunds_refund_id")),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index("ix_refunds_payment_id", ["payment_id"], unique=False)

    op.create_table(
        "loyalty_accounts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("account_id", sa.String(length=80), nullable=False),
        sa.Column("program_id", sa.String(length=80), nullable=False),
        sa.Column("customer_id", sa.String(length=80), nullable=True),
        sa.Column("balance_id", sa.String(length=80), nullable=False),
        sa.Column("deficit", tally.store.types.Amount(), nullable=False),
        sa.Column(
            "meta_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["loyalty_customers.customer_id"],
            name=op.f("fk_loyalty_accounts_customer_id_loyalty_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["loyalty_programs.program_id"],
            name=op.f("fk_loyalty_accounts_program_id_loyalty_programs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_accounts")),
        sa.UniqueConstraint("account_id", name=op.f("uq_loyalty_accounts_account_id")),
        sa.UniqueConstraint("balance_id", name=op.f("uq_loyalty_accounts_balance_id")),
        sa.UniqueConstraint(
            "program_id", "customer_id", name=op.f("uq_loyalty_accounts_program_id_customer_id")
        ),
    )
    with op.batch_alter_table("loyalty_accounts", schema=None) as batch_op:
        batch_op.create_index("ix_loyalty_accounts_customer_id", ["customer_id"], unique=False)
        batch_op.create_index(
            "ix_loyalty_accounts_program_created", ["program_id", "created_at"], unique=False
        )

    op.create_table(
        "loyalty_rewards",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("reward_id", sa.String(length=80), nullable=False),
        sa.Column("program_id", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("points_cost", tally.store.types.Amount(), nullable=False),
        sa.Column("discount_amount", tally.store.types.Amount(), nullable=False),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column(
            "meta_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["loyalty_programs.program_id"],
            name=op.f("fk_loyalty_rewards_program_id_loyalty_programs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_rewards")),
        sa.UniqueConstraint("reward_id", name=op.f("uq_loyalty_rewards_reward_id")),
    )
    with op.batch_alter_table("loyalty_rewards", schema=None) as batch_op:
        batch_op.create_index("ix_loyalty_rewards_program_id", ["program_id"], unique=False)

    op.create_table(
        "loyalty_redemptions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("redemption_id", sa.String(length=80), nullable=False),
        sa.Column("program_id", sa.String(length=80), nullable=False),
        sa.Column("account_id", sa.String(length=80), nullable=False),
        sa.Column("reward_id", sa.String(length=80), nullable=False),
        sa.Column("points", tally.store.types.Amount(), nullable=False),
        sa.Column("discount_amount", tally.store.types.Amount(), nullable=False),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("payment_id", sa.String(length=80), nullable=True),
        sa.Column("hold_transaction_id", sa.String(length=80), nullable=False),
        sa.Column("settle_transaction_id", sa.String(length=80), nullable=True),
        sa.Column("release_reason", sa.String(length=32), nullable=True),
        sa.Column("expires_at", tally.store.types.Micros(), nullable=False),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.Column("updated_at", tally.store.types.Micros(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["loyalty_accounts.account_id"],
            name=op.f("fk_loyalty_redemptions_account_id_loyalty_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_redemptions")),
        sa.UniqueConstraint("redemption_id", name=op.f("uq_loyalty_redemptions_redemption_id")),
    )
    with op.batch_alter_table("loyalty_redemptions", schema=None) as batch_op:
        batch_op.create_index("ix_loyalty_redemptions_account_id", ["account_id"], unique=False)
        batch_op.create_index("ix_loyalty_redemptions_payment_id", ["payment_id"], unique=False)
        batch_op.create_index(
            "ix_loyalty_redemptions_state_expires", ["state", "expires_at"], unique=False
        )

    op.create_table(
        "points_lots",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("lot_id", sa.String(length=80), nullable=False),
        sa.Column("account_id", sa.String(length=80), nullable=False),
        sa.Column("program_id", sa.String(length=80), nullable=False),
        sa.Column("ptx_id", sa.String(length=80), nullable=False),
        sa.Column("payment_id", sa.String(length=80), nullable=True),
        sa.Column("amount", tally.store.types.Amount(), nullable=False),
        sa.Column("remaining", tally.store.types.Amount(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("available_at", tally.store.types.Micros(), nullable=False),
        sa.Column("expires_at", tally.store.types.Micros(), nullable=True),
        sa.Column("vest_transaction", sa.String(length=80), nullable=True),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.CheckConstraint(
            "remaining >= 0 AND remaining <= amount", name=op.f("ck_points_lots_remaining_in_range")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["loyalty_accounts.account_id"],
            name=op.f("fk_points_lots_account_id_loyalty_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_lots")),
        sa.UniqueConstraint("lot_id", name=op.f("uq_points_lots_lot_id")),
    )
    with op.batch_alter_table("points_lots", schema=None) as batch_op:
        batch_op.create_index("ix_points_lots_account_state", ["account_id", "state"], unique=False)
        batch_op.create_index("ix_points_lots_payment_id", ["payment_id"], unique=False)
        batch_op.create_index(
            "ix_points_lots_state_available", ["state", "available_at"], unique=False
        )
        batch_op.create_index("ix_points_lots_state_expires", ["state", "expires_at"], unique=False)

    op.create_table(
        "points_transactions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("ptx_id", sa.String(length=80), nullable=False),
        sa.Column("account_id", sa.String(length=80), nullable=False),
        sa.Column("program_id", sa.String(length=80), nullable=False),
        sa.Column("points", tally.store.types.Amount(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("ledger_transaction", sa.String(length=80), nullable=True),
        sa.Column("payment_id", sa.String(length=80), nullable=True),
        sa.Column("refund_id", sa.String(length=80), nullable=True),
        sa.Column("redemption_id", sa.String(length=80), nullable=True),
        sa.Column("amount", tally.store.types.Amount(), nullable=True),
        sa.Column("currency", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("available_at", tally.store.types.Micros(), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["loyalty_accounts.account_id"],
            name=op.f("fk_points_transactions_account_id_loyalty_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_transactions")),
        sa.UniqueConstraint("ptx_id", name=op.f("uq_points_transactions_ptx_id")),
    )
    with op.batch_alter_table("points_transactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_points_transactions_account_created", ["account_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_points_transactions_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_points_transactions_payment_id", ["payment_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("points_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_points_transactions_payment_id")
        batch_op.drop_index("ix_points_transactions_created_at")
        batch_op.drop_index("ix_points_transactions_account_created")

    op.drop_table("points_transactions")
    with op.batch_alter_table("points_lots", schema=None) as batch_op:
        batch_op.drop_index("ix_points_lots_state_expires")
        batch_op.drop_index("ix_points_lots_state_available")
        batch_op.drop_index("ix_points_lots_payment_id")
        batch_op.drop_index("ix_points_lots_account_state")

    op.drop_table("points_lots")
    with op.batch_alter_table("loyalty_redemptions", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_redemptions_state_expires")
        batch_op.drop_index("ix_loyalty_redemptions_payment_id")
        batch_op.drop_index("ix_loyalty_redemptions_account_id")

    op.drop_table("loyalty_redemptions")
    with op.batch_alter_table("loyalty_rewards", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_rewards_program_id")

    op.drop_table("loyalty_rewards")
    with op.batch_alter_table("loyalty_accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_accounts_program_created")
        batch_op.drop_index("ix_loyalty_accounts_customer_id")

    op.drop_table("loyalty_accounts")
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index("ix_refunds_payment_id")

    op.drop_table("refunds")
    op.drop_table("loyalty_programs")
    op.drop_table("points_lot_holds")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_customer_id")
        batch_op.drop_index("ix_payments_created_at")
        batch_op.drop_index("ix_payments_account_id")

    op.drop_table("payments")
    op.drop_table("loyalty_earn_usage")
    with op.batch_alter_table("loyalty_customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loyalty_customers_created_at"))

    op.drop_table("loyalty_customers")
