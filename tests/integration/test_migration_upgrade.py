"""A ledger written by an older tether is upgraded in place, its rows kept.

Migrations that rebuild a table (Alembic's batch mode on SQLite) must work on a
ledger that has rows pointing at that table, not only on an empty one.
"""

from alembic import command
from sqlalchemy import text

from tether.config import Config
from tether.ledger import history as ledger_history
from tether.ledger import sessions, turns
from tether.ledger.db import Database
from tether.ledger.migrate import _alembic_config, migrate
from tether.ledger.store import open_ledger

OLD_ROWS = [
    "INSERT INTO projects (id, name, prefix, path, next_session, created_at)"
    " VALUES (1, 'web', 'web', '/src/web', 1, 1.0)",
    "INSERT INTO sessions (id, project_id, number, agent, origin, state, workspace,"
    " native_id, next_turn, created_at, updated_at)"
    " VALUES ('web-1', 1, 1, 'codex', 'tether', 'idle', '/src/web', 'thread-1', 1, 1.0, 2.0)",
    "INSERT INTO turns (id, session_id, number, kind, prompt, idempotency_key, state,"
    " reason, attempts, accepted_at, finished_at)"
    " VALUES ('web-1.1', 'web-1', 1, 'prompt', 'fix it', 'k1', 'completed', NULL, 1, 1.0, 2.0)",
    "INSERT INTO events (session_id, turn_id, kind, created_at, preview, size, dedup_key)"
    " VALUES ('web-1', 'web-1.1', 'message', 1.5, 'done', 4, '0')",
    "INSERT INTO history_files (agent, path, native_id, device, inode, size, mtime, head_size,"
    " head_hash, read_offset, scanned_at)"
    " VALUES ('codex', '/home/me/.codex/sessions/r.jsonl', 'thread-1', 1, 2, 30, 1.0, 30,"
    " 'h', 30, 1.0)",
]


def test_a_ledger_of_revision_0003_with_rows_upgrades_to_head(config: Config) -> None:
    db = Database(config.database_url)
    try:
        cfg = _alembic_config()
        with db.schema_change() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0003")
            for statement in OLD_ROWS:
                conn.execute(text(statement))
        migrate(db)
    finally:
        db.dispose()

    ledger = open_ledger(config)
    try:
        with ledger.db.read() as conn:
            session = sessions.get(conn, "web-1")
            turn = turns.get(conn, "web-1.1")
            files = ledger_history.load_files(conn, "")
            foreign_keys = (
                conn.exec_driver_sql("PRAGMA foreign_keys").scalar() if ledger.db.is_sqlite else 1
            )
        assert (session.native_id, session.agent) == ("thread-1", "codex")
        assert (turn.prompt, turn.state.value) == ("fix it", "completed")
        assert files["/home/me/.codex/sessions/r.jsonl"].read_offset == 30  # the implicit host's
        assert foreign_keys == 1, "foreign keys stay on after a migration"
    finally:
        ledger.close()
