"""Migrations build exactly ``schema.metadata``, apart from the full-text objects.

Full-text search is dialect-specific (an FTS5 table with triggers on SQLite,
a GIN index on PostgreSQL), so migration 0003 creates it outside metadata.
"""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from tether.ledger.migrate import include_object
from tether.ledger.schema import metadata
from tether.ledger.store import Ledger


def test_migrated_schema_equals_metadata(ledger: Ledger) -> None:
    with ledger.db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object})
        assert compare_metadata(context, metadata) == []


def test_full_text_objects_exist(ledger: Ledger) -> None:
    with ledger.db.engine.connect() as conn:
        inspector = inspect(conn)
        if conn.dialect.name == "sqlite":
            assert "events_fts" in inspector.get_table_names()
        else:
            assert "ix_events_fts" in {i["name"] for i in inspector.get_indexes("events")}
