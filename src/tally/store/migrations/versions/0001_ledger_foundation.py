"""ledger foundation

Revision ID: 0001
Revises:
Create Date: 2026-11-22 02:53:51.234319
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tally.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _is_net(total: str, credit: str, debit: str, name: str) -> list[sa.CheckConstraint]:
    """Exact on PostgreSQL; on SQLite only for 64-bit values (wider ones are stored as text)."""
    exact = f"{total} = {credit} - {debit}"
    wide = " OR ".join(f"typeof({c}) = 'text'" for c in (total, credit, debit))
    return [
        sa.CheckConstraint(exact, name=op.f(name)).ddl_if(dialect="postgresql"),
        sa.CheckConstraint(f"{wide} OR {exact}", name=op.f(name)).ddl_if(dialect="sqlite"),
    ]


def upgrade() -> None:

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("api_key_id", sa.String(length=80), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_prefix", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("owner_id", sa.String(length=255), nullable=False),
        sa.Column(
            "scopes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("expires_at", tally.store.types.Micros(), nullable=True),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.Column("last_used_at", tally.store.types.Micros(), nullable=True),
        sa.Column("revoked_at", tally.store.types.Micros(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("api_key_id", name=op.f("uq_api_keys_api_key_id")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=80), nullable=False),
        sa.Column("type", sa.String(length=80), nullable=False),
        sa.Column("subject_id", sa.String(length=80), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_events_event_id")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_events_type_created", ["type", "created_at"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_keys")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "identities",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("identity_id", sa.String(length=80), nullable=False),
        sa.Column("identity_type", sa.String(length=64), server_default="", nullable=False),
        sa.Column("organization_name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("category", sa.String(length=255), server_default="", nullable=False),
        sa.Column("first_name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("last_name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("other_names", sa.String(length=255), server_default="", nullable=False),
        sa.Column("gender", sa.String(length=64), server_default="", nullable=False),
        sa.Column("email_address", sa.String(length=255), server_default="", nullable=False),
        sa.Column("phone_number", sa.String(length=64), server_default="", nullable=False),
        sa.Column("nationality", sa.String(length=64), server_default="", nullable=False),
        sa.Column("street", sa.String(length=255), server_default="", nullable=False),
        sa.Column("country", sa.String(length=64), server_default="", nullable=False),
        sa.Column("state", sa.String(length=64), server_default="", nullable=False),
        sa.Column("post_code", sa.String(length=64), server_default="", nullable=False),
        sa.Column("city", sa.String(length=255), server_default="", nullable=False),
        sa.Column("dob", tally.store.types.Micros(), nullable=True),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.Column(
            "meta_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identities")),
        sa.UniqueConstraint("identity_id", name=op.f("uq_identities_identity_id")),
    )
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identities_created_at"), ["created_at"], unique=False)

    op.create_table(
        "ledgers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ledger_id", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.Column(
            "meta_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledgers")),
        sa.UniqueConstraint("ledger_id", name=op.f("uq_ledgers_ledger_id")),
    )
    with op.batch_alter_table("ledgers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledgers_created_at"), ["created_at"], unique=False)

    op.create_table(
        "balances",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("balance_id", sa.String(length=80), nullable=False),
        sa.Column("ledger_id", sa.String(length=80), nullable=False),
        sa.Column("identity_id", sa.String(length=80), nullable=True),
        sa.Column("indicator", sa.String(length=255), nullable=True),
        sa.Column("currency", sa.String(length=32), nullable=False),
        sa.Column("allow_overdraft", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("balance", tally.store.types.Amount(), nullable=False),
        sa.Column("credit_balance", tally.store.types.Amount(), nullable=False),
        sa.Column("debit_balance", tally.store.types.Amount(), nullable=False),
        sa.Column("inflight_balance", tally.store.types.Amount(), nullable=False),
        sa.Column("inflight_credit_balance", tally.store.types.Amount(), nullable=False),
        sa.Column("inflight_debit_balance", tally.store.types.Amount(), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.Column(
            "meta_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        *_is_net("balance", "credit_balance", "debit_balance", "ck_balances_balance_is_net"),
        *_is_net(
            "inflight_balance",
            "inflight_credit_balance",
            "inflight_debit_balance",
            "ck_balances_inflight_is_net",
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.identity_id"],
            name=op.f("fk_balances_identity_id_identities"),
        ),
        sa.ForeignKeyConstraint(
            ["ledger_id"], ["ledgers.ledger_id"], name=op.f("fk_balances_ledger_id_ledgers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_balances")),
        sa.UniqueConstraint("balance_id", name=op.f("uq_balances_balance_id")),
        sa.UniqueConstraint("indicator", "currency", name=op.f("uq_balances_indicator_currency")),
    )
    with op.batch_alter_table("balances", schema=None) as batch_op:
        batch_op.create_index("ix_balances_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_balances_identity_id", ["identity_id"], unique=False)
        batch_op.create_index("ix_balances_ledger_id", ["ledger_id"], unique=False)

    op.create_table(
        "transactions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("transaction_id", sa.String(length=80), nullable=False),
        sa.Column("parent_transaction", sa.String(length=80), nullable=True),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("destination", sa.String(length=80), nullable=False),
        sa.Column("reference", sa.String(length=600), nullable=False),
        sa.Column("precise_amount", tally.store.types.Amount(), nullable=False),
        sa.Column("precision", tally.store.types.Amount(), nullable=False),
        sa.Column("currency", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("allow_overdraft", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("overdraft_limit", tally.store.types.Amount(), nullable=False),
        sa.Column("inflight", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("atomic", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", tally.store.types.Micros(), nullable=False),
        sa.Column("effective_date", tally.store.types.Micros(), nullable=False),
        sa.Column("scheduled_for", tally.store.types.Micros(), nullable=True),
        sa.Column("inflight_expiry_date", tally.store.types.Micros(), nullable=True),
        sa.Column(
            "meta_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.CheckConstraint("precise_amount > 0", name=op.f("ck_transactions_amount_positive")),
        sa.CheckConstraint("source <> destination", name=op.f("ck_transactions_not_self")),
        sa.ForeignKeyConstraint(
            ["destination"],
            ["balances.balance_id"],
            name=op.f("fk_transactions_destination_balances"),
        ),
        sa.ForeignKeyConstraint(
            ["source"], ["balances.balance_id"], name=op.f("fk_transactions_source_balances")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
        sa.UniqueConstraint("reference", name=op.f("uq_transactions_reference")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_transactions_transaction_id")),
    )
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.create_index("ix_transactions_created_at", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_transactions_destination", ["destination", "effective_date"], unique=False
        )
        batch_op.create_index(
            "ix_transactions_parent_transaction", ["parent_transaction"], unique=False
        )
        batch_op.create_index("ix_transactions_source", ["source", "effective_date"], unique=False)
        batch_op.create_index("ix_transactions_status", ["status"], unique=False)

    _seed_general_ledger()
    _guards()


def downgrade() -> None:
    _drop_guards()

    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_transactions_status")
        batch_op.drop_index("ix_transactions_source")
        batch_op.drop_index("ix_transactions_parent_transaction")
        batch_op.drop_index("ix_transactions_destination")
        batch_op.drop_index("ix_transactions_created_at")

    op.drop_table("transactions")
    with op.batch_alter_table("balances", schema=None) as batch_op:
        batch_op.drop_index("ix_balances_ledger_id")
        batch_op.drop_index("ix_balances_identity_id")
        batch_op.drop_index("ix_balances_created_at")

    op.drop_table("balances")
    with op.batch_alter_table("ledgers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledgers_created_at"))

    op.drop_table("ledgers")
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identities_created_at"))

    op.drop_table("identities")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_created_at"))

    op.drop_table("idempotency_keys")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_type_created")
        batch_op.drop_index("ix_events_created_at")

    op.drop_table("events")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_owner_id"))

    op.drop_table("api_keys")


GENERAL_LEDGER = "general_ledger_id"


def _seed_general_ledger() -> None:
    ledgers = sa.table(
        "ledgers",
        sa.column("ledger_id", sa.String),
        sa.column("name", sa.String),
        sa.column("created_at", sa.BigInteger),
        sa.column("meta_data", sa.JSON),
    )
    op.bulk_insert(
        ledgers,
        [{"ledger_id": GENERAL_LEDGER, "name": "General Ledger", "created_at": 0, "meta_data": {}}],
    )


_PG_GUARDS = """
CREATE FUNCTION tally_zero_sum_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE bad text;
BEGIN
  SELECT n.currency INTO bad
    FROM new_rows n JOIN old_rows o ON o.id = n.id
   GROUP BY n.currency
  HAVING SUM(n.credit_balance - o.credit_balance) <> SUM(n.debit_balance - o.debit_balance)
      OR SUM(n.inflight_credit_balance - o.inflight_credit_balance)
         <> SUM(n.inflight_debit_balance - o.inflight_debit_balance)
   LIMIT 1;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'ledger out of balance: currency % does not sum to zero', bad
      USING ERRCODE = '23514';
  END IF;
  RETURN NULL;
END $$;
--;
CREATE TRIGGER balances_zero_sum AFTER UPDATE ON balances
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tally_zero_sum_check();
--;
CREATE FUNCTION tally_new_balance_is_empty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM new_rows WHERE credit_balance <> 0 OR debit_balance <> 0
             OR inflight_credit_balance <> 0 OR inflight_debit_balance <> 0) THEN
    RAISE EXCEPTION 'a new balance must start at zero' USING ERRCODE = '23514';
  END IF;
  RETURN NULL;
END $$;
--;
CREATE TRIGGER balances_start_empty AFTER INSERT ON balances
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tally_new_balance_is_empty();
--;
CREATE FUNCTION tally_transactions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'transactions are append-only' USING ERRCODE = '23514';
  END IF;
  IF (to_jsonb(NEW) - 'meta_data') IS DISTINCT FROM (to_jsonb(OLD) - 'meta_data') THEN
    RAISE EXCEPTION 'transactions are append-only: only meta_data may change'
      USING ERRCODE = '23514';
  END IF;
  RETURN NEW;
END $$;
--;
CREATE TRIGGER transactions_append_only BEFORE UPDATE OR DELETE ON transactions
  FOR EACH ROW EXECUTE FUNCTION tally_transactions_append_only();
"""

_SQLITE_GUARDS = [
    """CREATE TRIGGER transactions_append_only BEFORE UPDATE OF
    transaction_id, parent_transaction, source, destination, reference, precise_amount, precision,
    currency, description, status, kind, hash, allow_overdraft, overdraft_limit, inflight, atomic,
    created_at, effective_date, scheduled_for, inflight_expiry_date ON transactions
    BEGIN SELECT RAISE(ABORT, 'transactions are append-only: only meta_data may change'); END""",
    """CREATE TRIGGER transactions_no_delete BEFORE DELETE ON transactions
    BEGIN SELECT RAISE(ABORT, 'transactions are append-only'); END""",
]


def _guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_GUARDS.split("--;"):
            op.execute(statement)
    else:
        for statement in _SQLITE_GUARDS:
            op.execute(statement)


def _drop_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS balances_zero_sum ON balances")
        op.execute("DROP TRIGGER IF EXISTS balances_start_empty ON balances")
        op.execute("DROP TRIGGER IF EXISTS transactions_append_only ON transactions")
        op.execute("DROP FUNCTION IF EXISTS tally_zero_sum_check()")
        op.execute("DROP FUNCTION IF EXISTS tally_new_balance_is_empty()")
        op.execute("DROP FUNCTION IF EXISTS tally_transactions_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS transactions_append_only")
        op.execute("DROP TRIGGER IF EXISTS transactions_no_delete")
