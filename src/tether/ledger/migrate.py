"""Apply Alembic migrations at start-up, safely from several processes at once."""

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from tether.ledger.db import Database

MIGRATIONS = Path(__file__).parent / "migrations"
# Created by migration 0003 per dialect, outside ``metadata`` (FTS5 table on
# SQLite, a GIN index on PostgreSQL): autogenerate must leave them alone.
FULL_TEXT_OBJECTS = ("events_fts", "ix_events_fts")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
    return not (reflected and name is not None and name.startswith(FULL_TEXT_OBJECTS))


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(db: Database) -> str | None:
    with db.read() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(db: Database) -> None:
    """Bring the schema to head; a no-op when it is there already.

    The upgrade runs inside a write transaction (SQLite: BEGIN IMMEDIATE;
    PostgreSQL: an advisory lock) so two processes starting together do not
    both create the tables.
    """
    if current_revision(db) == head_revision():
        return
    cfg = _alembic_config()
    with db.write() as conn:
        if not db.is_sqlite:
            conn.execute(text("SELECT pg_advisory_xact_lock(7700)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
