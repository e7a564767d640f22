"""The schema (SQLAlchemy Core). Alembic migrations in ``migrations/`` create and evolve it."""

from __future__ import annotations

import sqlalchemy as sa

from .types import Amount, Json, Micros

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _is_net(total: str, credit: str, debit: str, *, name: str) -> list[sa.CheckConstraint]:
    """``total = credit - debit``. SQLite keeps amounts beyond 64 bits as text, which its SQL
    arithmetic cannot subtract exactly, so there the check covers 64-bit values only (the engine
    checks every amount exactly before writing; PostgreSQL checks all of them)."""
    exact = f"{total} = {credit} - {debit}"
    wide = " OR ".join(f"typeof({c}) = 'text'" for c in (total, credit, debit))
    return [
        sa.CheckConstraint(exact, name=name).ddl_if(dialect="postgresql"),
        sa.CheckConstraint(f"{wide} OR {exact}", name=name).ddl_if(dialect="sqlite"),
    ]


ledgers = sa.Table(
    "ledgers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ledger_id", sa.String(80), nullable=False, unique=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("created_at", Micros, nullable=False, index=True),
    sa.Column("meta_data", Json, nullable=False),
)

identities = sa.Table(
    "identities",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("identity_id", sa.String(80), nullable=False, unique=True),
    sa.Column("identity_type", sa.String(64), nullable=False, server_default=""),
    sa.Column("organization_name", sa.String(255), nullable=False, server_default=""),
    sa.Column("category", sa.String(255), nullable=False, server_default=""),
    sa.Column("first_name", sa.String(255), nullable=False, server_default=""),
    sa.Column("last_name", sa.String(255), nullable=False, server_default=""),
    sa.Column("other_names", sa.String(255), nullable=False, server_default=""),
    sa.Column("gender", sa.String(64), nullable=False, server_default=""),
    sa.Column("email_address", sa.String(255), nullable=False, server_default=""),
    sa.Column("phone_number", sa.String(64), nullable=False, server_default=""),
    sa.Column("nationality", sa.String(64), nullable=False, server_default=""),
    sa.Column("street", sa.String(255), nullable=False, server_default=""),
    sa.Column("country", sa.String(64), nullable=False, server_default=""),
    sa.Column("state", sa.String(64), nullable=False, server_default=""),
    sa.Column("post_code", sa.String(64), nullable=False, server_default=""),
    sa.Column("city", sa.String(255), nullable=False, server_default=""),
    sa.Column("dob", Micros, nullable=True),
    sa.Column("created_at", Micros, nullable=False, index=True),
    sa.Column("meta_data", Json, nullable=False),
)

balances = sa.Table(
    "balances",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("balance_id", sa.String(80), nullable=False, unique=True),
    sa.Column("ledger_id", sa.String(80), sa.ForeignKey("ledgers.ledger_id"), nullable=False),
    sa.Column("identity_id", sa.String(80), sa.ForeignKey("identities.identity_id"), nullable=True),
    sa.Column("indicator", sa.String(255), nullable=True),
    sa.Column("currency", sa.String(32), nullable=False),
    sa.Column("allow_overdraft", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("balance", Amount, nullable=False),
    sa.Column("credit_balance", Amount, nullable=False),
    sa.Column("debit_balance", Amount, nullable=False),
    sa.Column("inflight_balance", Amount, nullable=False),
    sa.Column("inflight_credit_balance", Amount, nullable=False),
    sa.Column("inflight_debit_balance", Amount, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("meta_data", Json, nullable=False),
    sa.UniqueConstraint("indicator", "currency"),
    *_is_net("balance", "credit_balance", "debit_balance", name="balance_is_net"),
    *_is_net(
        "inflight_balance",
        "inflight_credit_balance",
        "inflight_debit_balance",
        name="inflight_is_net",
    ),
    sa.Index("ix_balances_ledger_id", "ledger_id"),
    sa.Index("ix_balances_identity_id", "identity_id"),
    sa.Index("ix_balances_created_at", "created_at"),
)

transactions = sa.Table(
    "transactions",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("transaction_id", sa.String(80), nullable=False, unique=True),
    sa.Column("parent_transaction", sa.String(80), nullable=True),
    # No foreign keys to balances on PostgreSQL (migration 0005): the engine locks both balances
    # in the same transaction, balances cannot be deleted, and ``tally verify`` checks it.
    sa.Column("source", sa.String(80), nullable=False),
    sa.Column("destination", sa.String(80), nullable=False),
    sa.Column("reference", sa.String(600), nullable=False, unique=True),
    sa.Column("precise_amount", Amount, nullable=False),
    sa.Column("precision", Amount, nullable=False),
    sa.Column("currency", sa.String(32), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("allow_overdraft", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("overdraft_limit", Amount, nullable=False),
    sa.Column("inflight", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("atomic", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("effective_date", Micros, nullable=False),
    sa.Column("scheduled_for", Micros, nullable=True),
    sa.Column("inflight_expiry_date", Micros, nullable=True),
    sa.Column("meta_data", Json, nullable=False),
    sa.CheckConstraint("precise_amount > 0", name="amount_positive"),
    sa.CheckConstraint("source <> destination", name="not_self"),
    sa.Index(
        "ix_transactions_parent_transaction",
        "parent_transaction",
        postgresql_where=sa.text("parent_transaction IS NOT NULL"),
        sqlite_where=sa.text("parent_transaction IS NOT NULL"),
    ),
    sa.Index("ix_transactions_source", "source", "effective_date"),
    sa.Index("ix_transactions_destination", "destination", "effective_date"),
    sa.Index("ix_transactions_created_at", "created_at"),
    sa.Index(
        "ix_transactions_status",
        "status",
        postgresql_where=sa.text("status <> 'APPLIED'"),
        sqlite_where=sa.text("status <> 'APPLIED'"),
    ),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("api_key_id", sa.String(80), nullable=False, unique=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("key_prefix", sa.String(16), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("owner_id", sa.String(255), nullable=False, index=True),
    sa.Column("scopes", Json, nullable=False),
    sa.Column("expires_at", Micros, nullable=True),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("last_used_at", Micros, nullable=True),
    sa.Column("revoked_at", Micros, nullable=True),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("scope", sa.String(255), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("response_body", sa.LargeBinary, nullable=True),
    sa.Column("created_at", Micros, nullable=False, index=True),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("event_id", sa.String(80), nullable=False, unique=True),
    sa.Column("type", sa.String(80), nullable=False),
    sa.Column("subject_id", sa.String(80), nullable=True),
    sa.Column("payload", Json, nullable=False),
    sa.Column("created_at", Micros, nullable=False),
    sa.Index("ix_events_type_created", "type", "created_at"),
    sa.Index("ix_events_created_at", "created_at"),
)


def load_all() -> sa.MetaData:
    """Import every ``tally.store.tables_*`` module so ``metadata`` knows all tables."""
    import importlib
    import pkgutil

    import tally.store as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("tables_"):
            importlib.import_module(f"tally.store.{info.name}")
    return metadata
