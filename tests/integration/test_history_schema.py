"""Migrations build exactly ``schema.metadata``, apart from the full-text objects.

Full-text search is dialect-specific (an FTS5 table with triggers on SQLite,
a GIN index on PostgreSQL), so migration 0003 creates it outside metadata.
"""

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from tether.ledger.schema import metadata
from tether.ledger.store import Ledger

FTS_OBJECTS = {"events_fts", "ix_events_fts"}


def _name(diff: Any) -> str:
    item = diff[-1] if isinstance(diff, tuple) else diff[0][-1]
    return str(getattr(item, "name", item))


def _is_fts(diff: Any) -> bool:
    return any(_name(diff).startswith(name) for name in FTS_OBJECTS)


def test_migrated_schema_equals_metadata(ledger: Ledger) -> None:
    with ledger.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diffs if not _is_fts(d)] == []


def test_full_text_objects_exist(ledger: Ledger) -> None:
    with ledger.db.engine.connect() as conn:
        inspector = inspect(conn)
        if conn.dialect.name == "sqlite":
            assert "events_fts" in inspector.get_table_names()
        else:
            assert "ix_events_fts" in {i["name"] for i in inspector.get_indexes("events")}
