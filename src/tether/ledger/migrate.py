"""Apply Alembic migrations at start-up, safely from several processes at once.

Alembic is imported only when the ledger is not at the newest revision: the
check itself is one query and a look at the migration files
(``light.head_revision``), so a command on a migrated ledger never loads it.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tether.errors import LedgerError
from tether.ledger import light
from tether.ledger.db import Database

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"
# Created by migration 0003 per dialect, outside ``metadata`` (FTS5 table on
# SQLite, a GIN index on PostgreSQL): autogenerate must leave them alone.
FULL_TEXT_OBJECTS = ("events_fts", "ix_events_fts")
# Created by migration 0010 on PostgreSQL only: each change's and event's
# transaction id, which orders the change feed there (ledger/changes.py).
COMMIT_ORDER_OBJECTS = ("ix_changes_xid", "ix_events_xid")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
    if not reflected or name is None:
        return True
    dialect_only = name.startswith(FULL_TEXT_OBJECTS) or name in COMMIT_ORDER_OBJECTS
    return not (dialect_only or (type_ == "column" and name == "xid"))


def _alembic_config() -> "AlembicConfig":
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.read() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _stored_revision(db: Database) -> str | None:
    """The revision in alembic_version, without Alembic; None before the first migration."""
    try:
        with db.read() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (DBAPIError, LedgerError):  # no such table yet
        return None


def migrate(db: Database) -> None:
    """Bring the schema to head; a no-op when it is there already.

    The upgrade runs inside a write transaction (SQLite: BEGIN IMMEDIATE;
    PostgreSQL: an advisory lock) so two processes starting together do not
    both create the tables.
    """
    head = light.head_revision()
    if head is not None and _stored_revision(db) == head:
        return
    from alembic import command

    cfg = _alembic_config()
    with db.schema_change() as conn:
        if not db.is_sqlite:
            conn.execute(text("SELECT pg_advisory_xact_lock(7700)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
