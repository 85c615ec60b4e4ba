"""Connecting to the ledger database and running transactions on it.

SQLite is opened in WAL mode with a busy timeout, and every write transaction
starts with ``BEGIN IMMEDIATE`` so that two writers queue on SQLite's own lock
instead of failing halfway with "database is locked". PostgreSQL needs none
of that. Driver errors are translated into ``LedgerError`` here, once.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError

from tether.errors import LedgerError

_WRITE = "tether_write"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _setup_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def is_write(conn: Connection) -> bool:
    """Whether ``conn`` runs a write transaction (``Database.write``), not a read."""
    return bool(conn.get_execution_options().get(_WRITE, False))


def make_engine(url: str) -> Engine:
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url)
            _setup_sqlite(engine)
            return engine
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    except (ImportError, ValueError, DBAPIError) as exc:
        raise LedgerError(f"cannot use database URL {redact(url)}: {exc}") from exc


def redact(url: str) -> str:
    """Hide a password in a URL before it reaches a message or a log."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


class Database:
    """An engine plus the two kinds of transaction tether uses."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = url.startswith("sqlite")

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self._transaction(write=False) as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self._transaction(write=True) as conn:
            yield conn

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                conn.execution_options(**{_WRITE: write})
                with conn.begin():
                    yield conn
        except OperationalError as exc:
            raise LedgerError(f"ledger {redact(self.url)} is unavailable: {exc.orig}") from exc

    @contextmanager
    def schema_change(self) -> Iterator[Connection]:
        """A write transaction for migrations.

        On SQLite, Alembic's batch mode changes a table by copying it and
        dropping the old one, which foreign keys that point at it forbid; so,
        as SQLite prescribes (https://www.sqlite.org/lang_altertable.html,
        "other kinds of table schema changes"), foreign keys are off during the
        change and checked before it commits.
        """
        if not self.is_sqlite:
            with self.write() as conn:
                yield conn
            return
        try:
            with self.engine.connect() as conn:
                raw = conn.connection.dbapi_connection
                assert raw is not None
                raw.execute("PRAGMA foreign_keys = OFF")  # outside any transaction, or ignored
                try:
                    conn.execution_options(**{_WRITE: True})
                    with conn.begin():
                        yield conn
                        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            raise LedgerError(
                                f"a migration left {len(broken)} rows pointing at rows that "
                                f"do not exist (first: {tuple(broken[0])}); nothing was changed"
                            )
                finally:
                    raw.execute("PRAGMA foreign_keys = ON")
        except OperationalError as exc:
            raise LedgerError(f"ledger {redact(self.url)} is unavailable: {exc.orig}") from exc

    def dispose(self) -> None:
        self.engine.dispose()
