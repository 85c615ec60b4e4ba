"""Migrations build exactly ``schema.metadata``, apart from the full-text objects.

Full-text search is dialect-specific (an FTS5 table with triggers on SQLite,
a GIN index on PostgreSQL), so migration 0003 creates it outside metadata;
big batches fill it in bulk.
"""

import warnings
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from tether.domain.records import EventKind
from tether.ledger import bulk, events, history, projects, sessions
from tether.ledger.blobs import BlobStore
from tether.ledger.events import NewEvent
from tether.ledger.migrate import include_object
from tether.ledger.schema import metadata
from tether.ledger.store import Ledger


def test_migrated_schema_equals_metadata(ledger: Ledger) -> None:
    with ledger.db.engine.connect() as conn, warnings.catch_warnings():
        # the commit-order column (PostgreSQL only, outside metadata) has a type SQLAlchemy
        # does not reflect; include_object leaves it out of the comparison
        warnings.filterwarnings("ignore", "Did not recognize type 'xid8'")
        context = MigrationContext.configure(conn, opts={"include_object": include_object})
        assert compare_metadata(context, metadata) == []


def test_full_text_objects_exist(ledger: Ledger) -> None:
    with ledger.db.engine.connect() as conn:
        inspector = inspect(conn)
        if conn.dialect.name == "sqlite":
            assert "events_fts" in inspector.get_table_names()
        else:
            assert "ix_events_fts" in {i["name"] for i in inspector.get_indexes("events")}


def _messages(session_id: str, words: list[str], blobs: BlobStore) -> list[dict[str, object]]:
    return [
        events.row_for(
            NewEvent(session_id, EventKind.MESSAGE, f"note {word}", dedup_key=word), blobs
        )
        for word in words
    ]


def test_a_big_batch_is_searchable_and_the_trigger_still_works_after_it(
    ledger: Ledger, tmp_path: Path
) -> None:
    with ledger.db.write() as conn:
        project = projects.add(conn, tmp_path, name="web")
        session = sessions.create(conn, project, "codex", str(tmp_path)).id
    words = [f"w{i:04d}x" for i in range(bulk.BULK_ROWS + 10)]
    with ledger.db.write() as conn:
        inserted = [
            events.insert_rows(conn, _messages(session, words, ledger.blobs)),  # bulk on SQLite
            events.insert_rows(conn, _messages(session, words[:600], ledger.blobs)),  # all known
        ]
    with ledger.db.write() as conn:  # the trigger
        inserted.append(events.insert_rows(conn, _messages(session, ["afterwards"], ledger.blobs)))
    assert inserted == [len(words), 0, 1]  # the rows stored, counted by the driver
    with ledger.db.read() as conn:
        for word in (words[0], words[-1], "afterwards"):
            hits = history.search(conn, word)
            assert [h["preview"] for h in hits] == [f"note {word}"], word
