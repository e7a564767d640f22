"""The embedded store's SQLite settings: durable commits, and checkpoints far enough apart."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tally.store.database import WAL_CHECKPOINT_PAGES, Database


async def test_every_commit_syncs_the_log_and_checkpoints_run_every_64_mib(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'settings.db'}")
    try:
        async with db.write() as conn:
            found = {
                name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
                for name in (
                    "journal_mode",
                    "synchronous",
                    "wal_autocheckpoint",
                    "journal_size_limit",
                    "foreign_keys",
                )
            }
            await conn.execute(sa.text("CREATE TABLE probe (x INTEGER)"))
    finally:
        await db.dispose()
    assert found == {
        "journal_mode": "wal",
        "synchronous": 2,  # FULL: a commit returns once the log is on disk
        "wal_autocheckpoint": WAL_CHECKPOINT_PAGES,
        "journal_size_limit": WAL_CHECKPOINT_PAGES * 4096,
        "foreign_keys": 1,
    }
    assert WAL_CHECKPOINT_PAGES * 4096 == 64 * 1024 * 1024
