"""identifier columns compare bytes: ``COLLATE "C"`` on PostgreSQL

Ids, references, currencies, event types and statuses are ASCII codes, looked up by equality and
kept in unique indexes; none is text a person reads in a locale's order. Under the database's
default collation every comparison in those indexes goes through the locale: even under
``C.UTF-8`` PostgreSQL 15 copies both values to call ``strcoll``; under ``"C"`` it compares bytes.
Text comparison (``bttextcmp`` and what it calls) was about 7 % of PostgreSQL's CPU samples
under the engine's writes. Measured back to back on the in-process engine (10,000 balances, 10 s
runs, pairs alternated): PostgreSQL CPU per posting 47.7-48.0 → 44.7-45.2 µs on an ICU ``en-US``
database, and within the noise (±3 %) on a ``C.UTF-8`` one. The order of ids does not change for
Tally: byte order is the order it sorts them in (the engine locks balances in that order).

Upgrading an existing database rebuilds the indexes on these columns under an exclusive lock:
the time it takes grows with the tables.

Every ``varchar(n)`` column is converted except the ones people write (names, descriptions,
addresses, messages); each table is altered once, so its indexes are rebuilt once. SQLite
already compares bytes.

Revision ID: 0006
Revises: 0002, 0003, 0004, 0005
Create Date: 2026-12-04 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = ("0002", "0003", "0004", "0005")
branch_labels = None
depends_on = None

# Text people write or read in their own language: it keeps the database's collation.
HUMAN_TEXT = frozenset(
    {
        "name",
        "full_name",
        "first_name",
        "last_name",
        "other_names",
        "organization_name",
        "merchant_name",
        "category",
        "gender",
        "email",
        "email_address",
        "phone_number",
        "nationality",
        "street",
        "city",
        "post_code",
        "country",
        "description",
        "decline_message",
        "pos_text",
    }
)
# ``state`` is a lifecycle code everywhere but in an identity's address.
HUMAN_TEXT_IN = {"identities": frozenset({"state"})}

_COLUMNS = sa.text(
    """
    SELECT c.table_name, c.column_name, c.character_maximum_length
    FROM information_schema.columns c
    JOIN information_schema.tables t USING (table_schema, table_name)
    WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
      AND c.data_type = 'character varying' AND c.character_maximum_length IS NOT NULL
      AND c.table_name <> 'alembic_version'
    ORDER BY c.table_name, c.ordinal_position
    """
)


def _identifier_columns() -> dict[str, list[tuple[str, int]]]:
    tables: dict[str, list[tuple[str, int]]] = {}
    for table, column, length in op.get_bind().execute(_COLUMNS):
        if column in HUMAN_TEXT or column in HUMAN_TEXT_IN.get(table, ()):
            continue
        tables.setdefault(table, []).append((column, int(length)))
    return tables


def _alter(collation: str) -> None:
    for table, columns in _identifier_columns().items():
        clauses = ", ".join(
            f'ALTER COLUMN "{column}" TYPE varchar({length}) COLLATE "{collation}"'
            for column, length in columns
        )
        op.execute(f'ALTER TABLE "{table}" {clauses}')


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _alter("C")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _alter("default")
