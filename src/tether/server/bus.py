"""Wake-ups for the live channel: "the ledger may have new commits, read the change feed".

A bus carries no data, only the nudge; the data is always read back from the
ledger by cursor, so a lost or doubled nudge never loses or doubles an event.
Two implementations: in-process commits of this daemon's engine (SQLite, and
PostgreSQL too), and PostgreSQL ``LISTEN/NOTIFY``, which also wakes every
daemon on the database when another one commits. A slow fallback tick catches
writers that neither sees (another process on the same SQLite file).
"""

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

import psycopg
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

from tether.ledger.db import is_write

log = logging.getLogger(__name__)
Wake = Callable[[], None]
CHANNEL = "tether_changes"
_COMMITTED = "tether_committed"
LISTEN_RETRY_S = (0.5, 1.0, 2.0, 5.0)


class Bus(Protocol):
    def start(self, wake: Wake) -> None: ...

    def stop(self) -> None: ...


class CommitBus:
    """Nudges after each write commit of this process's ledger engine (once the connection is
    back). Reads commit too, but must not nudge: the feed's own read would wake it again."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.wake: Wake | None = None
        self.flag = f"{_COMMITTED}_{id(self)}"  # each bus on an engine sees every commit

    def start(self, wake: Wake) -> None:
        self.wake = wake
        event.listen(self.engine, "commit", self._committed)
        event.listen(self.engine.pool, "checkin", self._checked_in)

    def stop(self) -> None:
        event.remove(self.engine, "commit", self._committed)
        event.remove(self.engine.pool, "checkin", self._checked_in)

    def _committed(self, conn: Any) -> None:
        # The commit event fires before the database commits; wake at checkin instead.
        if is_write(conn):
            conn.info[self.flag] = True

    def _checked_in(self, dbapi_conn: Any, record: Any) -> None:
        if record.info.pop(self.flag, False) and self.wake is not None:
            self.wake()


class PostgresBus:
    """``LISTEN tether_changes`` on a connection of its own; triggers NOTIFY on every commit."""

    def __init__(self, url: str) -> None:
        self.dsn = _libpq_dsn(url)
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.conn: psycopg.Connection[Any] | None = None  # the listening one, once connected

    def start(self, wake: Wake) -> None:
        self.thread = threading.Thread(
            target=self._listen, args=(wake,), name="tether-listen", daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def _listen(self, wake: Wake) -> None:
        failures = 0
        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.conn = conn
                    failures = 0
                    wake()  # anything committed while we were not listening
                    while not self.stopping.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=None):
                            wake()
            except psycopg.Error as exc:
                delay = LISTEN_RETRY_S[min(failures, len(LISTEN_RETRY_S) - 1)]
                failures += 1
                log.warning("action=listen_failed retry_in=%.1fs error=%s", delay, exc)
                self.stopping.wait(delay)


def _libpq_dsn(url: str) -> str:
    """The SQLAlchemy URL as a libpq one (``postgresql+psycopg://`` → ``postgresql://``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def buses_for(engine: Engine, url: str) -> list[Bus]:
    buses: list[Bus] = [CommitBus(engine)]
    if not url.startswith("sqlite"):
        buses.append(PostgresBus(url))
    return buses
