"""Read-only access to the SQLite ledger with the standard library alone.

For read commands that must answer at once (``tether usage``): no SQLAlchemy,
no Alembic, and not even ``re``, ``pathlib`` or ``typing`` (each costs the
report's whole process milliseconds). It is used only when the ledger is
SQLite and already migrated to the newest revision; otherwise the caller
opens the full ledger, which migrates it.
"""

import os
import sqlite3

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (and re, which it loads)
if TYPE_CHECKING:
    from tether.ledger.usage import Execute

VERSIONS = os.path.join(os.path.dirname(__file__), "migrations", "versions")
_SQLITE = "sqlite:///"


def head_revision() -> str | None:
    """The newest migration: the revision that no other names as its down_revision."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for name in os.listdir(VERSIONS):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(VERSIONS, name)) as handle:
            for line in handle:
                key, _, value = line.partition(" = ")
                if key in ("revision", "down_revision") and value.startswith('"'):
                    (revisions if key == "revision" else parents).add(value.strip().strip('"'))
                if key == "down_revision":
                    break  # Alembic's files name their revision first, then its parent
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def connect(database_url: str) -> sqlite3.Connection | None:
    """A read-only connection to a migrated SQLite ledger, or None to use the full one."""
    if not database_url.startswith(_SQLITE):
        return None
    path = os.path.abspath(database_url.removeprefix(_SQLITE))
    if not os.path.isfile(path):
        return None
    conn = None
    try:
        conn = sqlite3.connect(f"file:{_uri_path(path)}?mode=ro", uri=True, timeout=30)
        stored = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        stored = None
    if conn is not None and (stored is None or stored[0] != head_revision()):
        conn.close()
        conn = None
    return conn


def _uri_path(path: str) -> str:
    """``path`` in a ``file:`` URI: the characters SQLite reads as URI syntax, escaped."""
    return path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")


def execute(conn: sqlite3.Connection) -> "Execute":
    return lambda sql, params: conn.execute(sql, params).fetchall()
