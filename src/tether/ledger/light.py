"""Read-only access to the SQLite ledger with the standard library alone.

For read commands that must answer at once (``tether usage``): no SQLAlchemy,
no Alembic. It is used only when the ledger is SQLite and already migrated to
the newest revision; otherwise the caller opens the full ledger, which
migrates it.
"""

import re
import sqlite3
from pathlib import Path

from tether.ledger.usage import Execute

VERSIONS = Path(__file__).parent / "migrations" / "versions"
_REVISION = re.compile(r'^(down_)?revision = "([^"]+)"', re.MULTILINE)
_SQLITE = "sqlite:///"


def head_revision() -> str | None:
    """The newest migration: the revision that no other names as its down_revision."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        for down, value in _REVISION.findall(path.read_text()):
            (parents if down else revisions).add(value)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def connect(database_url: str) -> sqlite3.Connection | None:
    """A read-only connection to a migrated SQLite ledger, or None to use the full one."""
    if not database_url.startswith(_SQLITE):
        return None
    path = Path(database_url.removeprefix(_SQLITE))
    if not path.is_file():
        return None
    conn = None
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=30)
        stored = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        stored = None
    if conn is not None and (stored is None or stored[0] != head_revision()):
        conn.close()
        conn = None
    return conn


def execute(conn: sqlite3.Connection) -> Execute:
    return lambda sql, params: conn.execute(sql, params).fetchall()
