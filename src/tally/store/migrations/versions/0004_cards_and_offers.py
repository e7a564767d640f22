"""cards and offers: virtual cards, authorizations, card-linked offers (no PAN, no CVV)

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-22 03:19:35.480195
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tally.store.types

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "card_transactions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ctx_id", sa.String(length=80), nullable=False),
        sa.Column("network_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("card_id", sa.String(length=80), nullable=True),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("amount", tally.store.types.Amount(), nullable=False),
        sa.Column("currency", sa.String(length=32), nullable=False),
        sa.Column("related_network_id", sa.String(length=255), nullable=True),
        sa.Column("occurred_at", tally.store.types.Micros(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("offer_id", sa.String(length=80), nullable=True),
        sa.Column("redemption_id", sa.String(length=80), nullable=True),
        sa.Column(
            "explanation",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("points_offer_id", sa.String(length=80), nullable=True),
        sa.Column("points_currency", sa.String(length=32), nullable=True),
        sa.Column("points_held", tally.store.types.Amount(), nullable=True),
        sa.Column("points_hold_id", sa.String(length=80), nullable=True),
        sa.Column("points_status", sa.String(length=16), nullable=True),
        sa.Column("points_expires_at", tally.store.types.Micros(), nullable=True),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.Column("updated_at", tally.store.types.Micros(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_transactions")),
        sa.UniqueConstraint("ctx_id", name=op.f("uq_card_transactions_ctx_id")),
        sa.UniqueConstraint("network_id", name=op.f("uq_card_transactions_network_id")),
    )
    with op.batch_alter_table("card_transactions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_card_transactions_card_id"), ["card_id"], unique=False)
        batch_op.create_index(
            "ix_card_transactions_points", ["points_status", "points_expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_card_transactions_related_network_id"),
            ["related_network_id"],
            unique=False,
        )

    op.create_table(
        "offers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("offer_id", sa.String(length=80), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("pos_text", sa.String(length=500), server_default="", nullable=False),
        sa.Column(
            "reward",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "pay_with_points",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("min_spend", tally.store.types.Amount(), nullable=False),
        sa.Column("currency", sa.String(length=32), nullable=False),
        sa.Column("starts_at", tally.store.types.Micros(), nullable=True),
        sa.Column("ends_at", tally.store.types.Micros(), nullable=True),
        sa.Column("max_per_card", sa.Integer(), nullable=True),
        sa.Column("max_total", sa.Integer(), nullable=True),
        sa.Column("redemption_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("return_period_days", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.Column("updated_at", tally.store.types.Micros(), nullable=False),
        sa.Column(
            "meta_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
        sa.UniqueConstraint("offer_id", name=op.f("uq_offers_offer_id")),
    )
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_offers_merchant_id"), ["merchant_id"], unique=False)

    op.create_table(
        "persons",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(length=80), nullable=False),
        sa.Column("full_name", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("points_balance_id", sa.String(length=80), nullable=True),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.Column(
            "meta_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
        sa.UniqueConstraint("email", name=op.f("uq_persons_email")),
        sa.UniqueConstraint("person_id", name=op.f("uq_persons_person_id")),
    )
    op.create_table(
        "card_ledgers",
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=32), nullable=False),
        sa.Column("ledger_id", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["ledger_id"], ["ledgers.ledger_id"], name=op.f("fk_card_ledgers_ledger_id_ledgers")
        ),
        sa.PrimaryKeyConstraint("purpose", "currency", name=op.f("pk_card_ledgers")),
    )
    op.create_table(
        "linked_cards",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("card_id", sa.String(length=80), nullable=False),
        sa.Column("person_id", sa.String(length=80), nullable=False),
        sa.Column("fingerprint", sa.String(length=80), nullable=False),
        sa.Column("brand", sa.String(length=32), nullable=False),
        sa.Column("first6", sa.String(length=6), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("exp_month", sa.Integer(), nullable=False),
        sa.Column("exp_year", sa.Integer(), nullable=False),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.Column(
            "meta_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.person_id"], name=op.f("fk_linked_cards_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linked_cards")),
        sa.UniqueConstraint("card_id", name=op.f("uq_linked_cards_card_id")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_linked_cards_fingerprint")),
    )
    with op.batch_alter_table("linked_cards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_linked_cards_person_id"), ["person_id"], unique=False)

    op.create_table(
        "offer_redemptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("redemption_id", sa.String(length=80), nullable=False),
        sa.Column("offer_id", sa.String(length=80), nullable=False),
        sa.Column("card_id", sa.String(length=80), nullable=False),
        sa.Column("person_id", sa.String(length=80), nullable=False),
        sa.Column("card_transaction_id", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reward_type", sa.String(length=16), nullable=False),
        sa.Column("amount", tally.store.types.Amount(), nullable=False),
        sa.Column("currency", sa.String(length=32), nullable=False),
        sa.Column("spend", tally.store.types.Amount(), nullable=False),
        sa.Column("refunded_spend", tally.store.types.Amount(), nullable=False),
        sa.Column("reversed_amount", tally.store.types.Amount(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("transaction_id", sa.String(length=80), nullable=False),
        sa.Column("final_at", tally.store.types.Micros(), nullable=True),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.Column("updated_at", tally.store.types.Micros(), nullable=False),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offers.offer_id"], name=op.f("fk_offer_redemptions_offer_id_offers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offer_redemptions")),
        sa.UniqueConstraint(
            "card_transaction_id", name=op.f("uq_offer_redemptions_card_transaction_id")
        ),
        sa.UniqueConstraint("redemption_id", name=op.f("uq_offer_redemptions_redemption_id")),
    )
    with op.batch_alter_table("offer_redemptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_offer_redemptions_card_id"), ["card_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_offer_redemptions_offer_id"), ["offer_id"], unique=False
        )
        batch_op.create_index(
            "ix_offer_redemptions_status_final", ["status", "final_at"], unique=False
        )

    op.create_table(
        "card_offers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("card_offer_id", sa.String(length=80), nullable=False),
        sa.Column("card_id", sa.String(length=80), nullable=False),
        sa.Column("offer_id", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("redemption_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.Column("updated_at", tally.store.types.Micros(), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_id"], ["linked_cards.card_id"], name=op.f("fk_card_offers_card_id_linked_cards")
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offers.offer_id"], name=op.f("fk_card_offers_offer_id_offers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_offers")),
        sa.UniqueConstraint("card_id", "offer_id", name=op.f("uq_card_offers_card_id_offer_id")),
        sa.UniqueConstraint("card_offer_id", name=op.f("uq_card_offers_card_offer_id")),
    )
    with op.batch_alter_table("card_offers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_card_offers_offer_id"), ["offer_id"], unique=False)

    op.create_table(
        "person_balances",
        sa.Column("person_id", sa.String(length=80), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=32), nullable=False),
        sa.Column("balance_id", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["balance_id"],
            ["balances.balance_id"],
            name=op.f("fk_person_balances_balance_id_balances"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.person_id"], name=op.f("fk_person_balances_person_id_persons")
        ),
        sa.PrimaryKeyConstraint(
            "person_id", "purpose", "currency", name=op.f("pk_person_balances")
        ),
    )
    op.create_table(
        "virtual_cards",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("card_id", sa.String(length=80), nullable=False),
        sa.Column("holder_id", sa.String(length=80), nullable=False),
        sa.Column("holder_type", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=32), nullable=False),
        sa.Column("ledger_id", sa.String(length=80), nullable=False),
        sa.Column("balance_id", sa.String(length=80), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("per_authorization_limit", tally.store.types.Amount(), nullable=True),
        sa.Column("daily_limit", tally.store.types.Amount(), nullable=True),
        sa.Column(
            "merchant_lock",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("details_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("details_last4", sa.String(length=4), nullable=True),
        sa.Column("details_brand", sa.String(length=32), nullable=True),
        sa.Column("details_exp_month", sa.Integer(), nullable=True),
        sa.Column("details_exp_year", sa.Integer(), nullable=True),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.Column("updated_at", tally.store.types.Micros(), nullable=False),
        sa.Column(
            "meta_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["balance_id"],
            ["balances.balance_id"],
            name=op.f("fk_virtual_cards_balance_id_balances"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_virtual_cards")),
        sa.UniqueConstraint("balance_id", name=op.f("uq_virtual_cards_balance_id")),
        sa.UniqueConstraint("card_id", name=op.f("uq_virtual_cards_card_id")),
    )
    with op.batch_alter_table("virtual_cards", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_virtual_cards_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_virtual_cards_holder_id"), ["holder_id"], unique=False)

    op.create_table(
        "card_authorizations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("auth_id", sa.String(length=80), nullable=False),
        sa.Column("card_id", sa.String(length=80), nullable=False),
        sa.Column("amount", tally.store.types.Amount(), nullable=False),
        sa.Column("currency", sa.String(length=32), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("merchant_name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("merchant_category", sa.String(length=32), server_default="", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decline_reason", sa.String(length=32), nullable=True),
        sa.Column("decline_message", sa.String(length=500), server_default="", nullable=False),
        sa.Column("hold_transaction_id", sa.String(length=80), nullable=True),
        sa.Column("captured_amount", tally.store.types.Amount(), nullable=False),
        sa.Column("released_amount", tally.store.types.Amount(), nullable=False),
        sa.Column("expires_at", tally.store.types.Micros(), nullable=True),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.Column("updated_at", tally.store.types.Micros(), nullable=False),
        sa.Column(
            "meta_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["card_id"],
            ["virtual_cards.card_id"],
            name=op.f("fk_card_authorizations_card_id_virtual_cards"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_authorizations")),
        sa.UniqueConstraint("auth_id", name=op.f("uq_card_authorizations_auth_id")),
    )
    with op.batch_alter_table("card_authorizations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_card_authorizations_card_created", ["card_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_card_authorizations_status_expires", ["status", "expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("card_authorizations", schema=None) as batch_op:
        batch_op.drop_index("ix_card_authorizations_status_expires")
        batch_op.drop_index("ix_card_authorizations_card_created")

    op.drop_table("card_authorizations")
    with op.batch_alter_table("virtual_cards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_virtual_cards_holder_id"))
        batch_op.drop_index(batch_op.f("ix_virtual_cards_created_at"))

    op.drop_table("virtual_cards")
    op.drop_table("person_balances")
    with op.batch_alter_table("card_offers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_card_offers_offer_id"))

    op.drop_table("card_offers")
    with op.batch_alter_table("offer_redemptions", schema=None) as batch_op:
        batch_op.drop_index("ix_offer_redemptions_status_final")
        batch_op.drop_index(batch_op.f("ix_offer_redemptions_offer_id"))
        batch_op.drop_index(batch_op.f("ix_offer_redemptions_card_id"))

    op.drop_table("offer_redemptions")
    with op.batch_alter_table("linked_cards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_linked_cards_person_id"))

    op.drop_table("linked_cards")
    op.drop_table("card_ledgers")
    op.drop_table("persons")
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offers_merchant_id"))

    op.drop_table("offers")
    with op.batch_alter_table("card_transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_card_transactions_related_network_id"))
        batch_op.drop_index("ix_card_transactions_points")
        batch_op.drop_index(batch_op.f("ix_card_transactions_card_id"))

    op.drop_table("card_transactions")
