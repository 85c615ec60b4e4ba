"""history: native log files, native sessions, usage entries, full-text search

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


# Full-text search over message events. Dialect-specific, so kept out of
# ``schema.metadata``: an FTS5 table with triggers on SQLite, a GIN index on
# the tsvector of the preview on PostgreSQL.
SQLITE_FTS = (
    "CREATE VIRTUAL TABLE events_fts USING fts5("
    "preview, content='events', content_rowid='id', tokenize='unicode61')",
    "CREATE TRIGGER events_fts_insert AFTER INSERT ON events WHEN new.kind = 'message' "
    "BEGIN INSERT INTO events_fts(rowid, preview) VALUES (new.id, new.preview); END",
    "CREATE TRIGGER events_fts_delete AFTER DELETE ON events WHEN old.kind = 'message' "
    "BEGIN INSERT INTO events_fts(events_fts, rowid, preview) "
    "VALUES ('delete', old.id, old.preview); END",
    "INSERT INTO events_fts(rowid, preview) SELECT id, preview FROM events WHERE kind = 'message'",
)
SQLITE_FTS_DROP = (
    "DROP TRIGGER IF EXISTS events_fts_delete",
    "DROP TRIGGER IF EXISTS events_fts_insert",
    "DROP TABLE IF EXISTS events_fts",
)
POSTGRES_FTS = (
    "CREATE INDEX ix_events_fts ON events USING GIN (to_tsvector('simple', preview)) "
    "WHERE kind = 'message'",
)
POSTGRES_FTS_DROP = ("DROP INDEX IF EXISTS ix_events_fts",)


def _run(sqlite: tuple[str, ...], postgres: tuple[str, ...]) -> None:
    for statement in sqlite if op.get_bind().dialect.name == "sqlite" else postgres:
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "history_files",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("native_id", sa.String(length=255), nullable=True),
        sa.Column("device", sa.BigInteger(), nullable=False),
        sa.Column("inode", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime", sa.Float(), nullable=False),
        sa.Column("head_size", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("read_offset", sa.BigInteger(), nullable=False),
        sa.Column("events_offset", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("state", sa.Text(), nullable=True),
        sa.Column("bad_lines", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("oversize_lines", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("scanned_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_history_files")),
        sa.UniqueConstraint("path", name=op.f("uq_history_files_path")),
    )
    op.create_table(
        "usage_entries",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("entry_key", sa.String(length=255), nullable=False),
        sa.Column("native_id", sa.String(length=255), nullable=False),
        sa.Column("copied", sa.Integer(), server_default="0", nullable=False),
        sa.Column("origin_ts", sa.Float(), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("turn_key", sa.String(length=255), nullable=True),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_usage_entries")),
        sa.UniqueConstraint("agent", "entry_key", name=op.f("uq_usage_entries_agent_entry_key")),
    )
    with op.batch_alter_table("usage_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_usage_entries_agent_native_id"), ["agent", "native_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_usage_entries_day"), ["day"], unique=False)

    op.create_table(
        "native_sessions",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("native_id", sa.String(length=255), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("parent_native_id", sa.String(length=255), nullable=True),
        sa.Column("cwd", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("model", sa.String(length=255), nullable=True),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_native_sessions_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_native_sessions")),
        sa.UniqueConstraint("agent", "native_id", name=op.f("uq_native_sessions_agent_native_id")),
    )
    with op.batch_alter_table("native_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_native_sessions_session_id"), ["session_id"], unique=False
        )
    _run(SQLITE_FTS, POSTGRES_FTS)


def downgrade() -> None:
    _run(SQLITE_FTS_DROP, POSTGRES_FTS_DROP)
    with op.batch_alter_table("native_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_native_sessions_session_id"))

    op.drop_table("native_sessions")
    with op.batch_alter_table("usage_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_entries_day"))
        batch_op.drop_index(batch_op.f("ix_usage_entries_agent_native_id"))

    op.drop_table("usage_entries")
    op.drop_table("history_files")
