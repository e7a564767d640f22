"""Tables of virtual cards and card-linked offers. No column ever holds a full card number or CVV.

Issued virtual card details (from the issuing partner) are kept only as AES-GCM ciphertext
(``details_ciphertext``); linked cards keep brand, first six, last four, expiry and a keyed
fingerprint.
"""

from __future__ import annotations

import sqlalchemy as sa

from .tables import metadata
from .types import Amount, Json, Micros


def _pk() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


card_ledgers = sa.Table(
    "card_ledgers",
    metadata,
    sa.Column("purpose", sa.String(32), primary_key=True),
    sa.Column("currency", sa.String(32), primary_key=True),
    sa.Column("ledger_id", sa.String(80), sa.ForeignKey("ledgers.ledger_id"), nullable=False),
)

virtual_cards = sa.Table(
    "virtual_cards",
    metadata,
    _pk(),
    sa.Column("card_id", sa.String(80), nullable=False, unique=True),
    sa.Column("holder_id", sa.String(80), nullable=False, index=True),
    sa.Column("holder_type", sa.String(16), nullable=False),
    sa.Column("currency", sa.String(32), nullable=False),
    sa.Column("ledger_id", sa.String(80), nullable=False),
    sa.Column(
        "balance_id",
        sa.String(80),
        sa.ForeignKey("balances.balance_id"),
        nullable=False,
        unique=True,
    ),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("per_authorization_limit", Amount, nullable=True),
    sa.Column("daily_limit", Amount, nullable=True),
    sa.Column("merchant_lock", Json, nullable=True),
    sa.Column("details_ciphertext", sa.LargeBinary, nullable=True),
    sa.Column("details_last4", sa.String(4), nullable=True),
    sa.Column("details_brand", sa.String(32), nullable=True),
    sa.Column("details_exp_month", sa.Integer, nullable=True),
    sa.Column("details_exp_year", sa.Integer, nullable=True),
    sa.Column("created_at", Micros, nullable=False, index=True),
    sa.Column("updated_at", Micros, nullable=False),
    sa.Column("meta_data", Json, nullable=False),
)

card_authorizations = sa.Table(
    "card_authorizations",
    metadata,
    _pk(),
    sa.Column("auth_id", sa.String(80), nullable=False, unique=True),
    sa.Column("card_id", sa.String(80), sa.ForeignKey("virtual_cards.card_id"), nullable=False),
    sa.Column("amount", Amount, nullable=False),
    sa.Column("currency", sa.String(32), nullable=False),
    sa.Column("merchant_id", sa.String(64), nullable=False),
    sa.Column("merchant_name", sa.String(255), nullable=False, server_default=""),
    sa.Column("merchant_category", sa.String(32), nullable=False, server_default=""),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("decline_reason", sa.String(32), nullable=True),
    sa.Column("decline_message", sa.String(500), nullable=False, server_default=""),
    sa.Column("hold_transaction_id", sa.String(80), nullable=True),
    sa.Column("captured_amount", Amount, nullable=False),
    sa.Column("released_amount", Amount, nullable=False),
    sa.Column("expires_at", Micros, nullable=True),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("updated_at", Micros, nullable=False),
    sa.Column("meta_data", Json, nullable=False),
    sa.Index("ix_card_authorizations_card_created", "card_id", "created_at"),
    sa.Index("ix_card_authorizations_status_expires", "status", "expires_at"),
)

offers = sa.Table(
    "offers",
    metadata,
    _pk(),
    sa.Column("offer_id", sa.String(80), nullable=False, unique=True),
    sa.Column("merchant_id", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("pos_text", sa.String(500), nullable=False, server_default=""),
    sa.Column("reward", Json, nullable=False),
    sa.Column("pay_with_points", Json, nullable=True),
    sa.Column("min_spend", Amount, nullable=False),
    sa.Column("currency", sa.String(32), nullable=False),
    sa.Column("starts_at", Micros, nullable=True),
    sa.Column("ends_at", Micros, nullable=True),
    sa.Column("max_per_card", sa.Integer, nullable=True),
    sa.Column("max_total", sa.Integer, nullable=True),
    sa.Column("redemption_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("return_period_days", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("updated_at", Micros, nullable=False),
    sa.Column("meta_data", Json, nullable=False),
)

persons = sa.Table(
    "persons",
    metadata,
    _pk(),
    sa.Column("person_id", sa.String(80), nullable=False, unique=True),
    sa.Column("full_name", sa.String(255), nullable=False),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("points_balance_id", sa.String(80), nullable=True),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("meta_data", Json, nullable=False),
)

person_balances = sa.Table(
    "person_balances",
    metadata,
    sa.Column("person_id", sa.String(80), sa.ForeignKey("persons.person_id"), primary_key=True),
    sa.Column("purpose", sa.String(32), primary_key=True),
    sa.Column("currency", sa.String(32), primary_key=True),
    sa.Column("balance_id", sa.String(80), sa.ForeignKey("balances.balance_id"), nullable=False),
)

linked_cards = sa.Table(
    "linked_cards",
    metadata,
    _pk(),
    sa.Column("card_id", sa.String(80), nullable=False, unique=True),
    sa.Column(
        "person_id", sa.String(80), sa.ForeignKey("persons.person_id"), nullable=False, index=True
    ),
    sa.Column("fingerprint", sa.String(80), nullable=False, unique=True),
    sa.Column("brand", sa.String(32), nullable=False),
    sa.Column("first6", sa.String(6), nullable=False),
    sa.Column("last4", sa.String(4), nullable=False),
    sa.Column("exp_month", sa.Integer, nullable=False),
    sa.Column("exp_year", sa.Integer, nullable=False),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("meta_data", Json, nullable=False),
)

card_offers = sa.Table(
    "card_offers",
    metadata,
    _pk(),
    sa.Column("card_offer_id", sa.String(80), nullable=False, unique=True),
    sa.Column("card_id", sa.String(80), sa.ForeignKey("linked_cards.card_id"), nullable=False),
    sa.Column(
        "offer_id", sa.String(80), sa.ForeignKey("offers.offer_id"), nullable=False, index=True
    ),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("redemption_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("updated_at", Micros, nullable=False),
    sa.UniqueConstraint("card_id", "offer_id"),
)

card_transactions = sa.Table(
    "card_transactions",
    metadata,
    _pk(),
    sa.Column("ctx_id", sa.String(80), nullable=False, unique=True),
    sa.Column("network_id", sa.String(255), nullable=False, unique=True),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("card_id", sa.String(80), nullable=True, index=True),
    sa.Column("merchant_id", sa.String(64), nullable=False),
    sa.Column("amount", Amount, nullable=False),
    sa.Column("currency", sa.String(32), nullable=False),
    sa.Column("related_network_id", sa.String(255), nullable=True, index=True),
    sa.Column("occurred_at", Micros, nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("offer_id", sa.String(80), nullable=True),
    sa.Column("redemption_id", sa.String(80), nullable=True),
    sa.Column("explanation", Json, nullable=False),
    sa.Column("points_offer_id", sa.String(80), nullable=True),
    sa.Column("points_currency", sa.String(32), nullable=True),
    sa.Column("points_held", Amount, nullable=True),
    sa.Column("points_hold_id", sa.String(80), nullable=True),
    sa.Column("points_status", sa.String(16), nullable=True),
    sa.Column("points_expires_at", Micros, nullable=True),
    sa.Column("request_digest", sa.String(64), nullable=False),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("updated_at", Micros, nullable=False),
    sa.Index("ix_card_transactions_points", "points_status", "points_expires_at"),
)

offer_redemptions = sa.Table(
    "offer_redemptions",
    metadata,
    _pk(),
    sa.Column("redemption_id", sa.String(80), nullable=False, unique=True),
    sa.Column(
        "offer_id", sa.String(80), sa.ForeignKey("offers.offer_id"), nullable=False, index=True
    ),
    sa.Column("card_id", sa.String(80), nullable=False, index=True),
    sa.Column("person_id", sa.String(80), nullable=False),
    sa.Column("card_transaction_id", sa.String(80), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("reward_type", sa.String(16), nullable=False),
    sa.Column("amount", Amount, nullable=False),
    sa.Column("currency", sa.String(32), nullable=False),
    sa.Column("spend", Amount, nullable=False),
    sa.Column("refunded_spend", Amount, nullable=False),
    sa.Column("reversed_amount", Amount, nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("transaction_id", sa.String(80), nullable=False),
    sa.Column("final_at", Micros, nullable=True),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("updated_at", Micros, nullable=False),
    sa.Index("ix_offer_redemptions_status_final", "status", "final_at"),
)
