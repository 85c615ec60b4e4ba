"""The change feed on PostgreSQL: writers that commit out of order, and LISTEN/NOTIFY.

Ids come from sequences, so a transaction can take id 9, another id 10 and
commit first. These tests hold transactions open on two connections of a
real PostgreSQL and check that a reader resuming from its cursor gets every
change and event once, whatever the commit order.
"""

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Connection, text
from tests.conftest import PG_ADMIN
from tests.support import settled_head

from tether.config import load
from tether.ledger import changes, projects, sessions
from tether.ledger.changes import Cursor
from tether.ledger.db import Database
from tether.ledger.store import Ledger, open_ledger
from tether.server.bus import PostgresBus
from tether.server.feed import Feed, end_of, read_after

pytestmark = pytest.mark.postgres
WAIT_S = 180


@pytest.fixture
def pg_ledger(home: Path, pg_url: str) -> Iterator[Ledger]:
    ledger = open_ledger(load({"TETHER_HOME": str(home), "TETHER_DATABASE_URL": pg_url}))
    yield ledger
    ledger.close()


def _sessions(ledger: Ledger, root: Path, n: int) -> list[str]:
    root.mkdir()
    with ledger.db.write() as conn:
        project = projects.add(conn, root, name="web")
        return [sessions.create(conn, project, "codex", str(root)).id for _ in range(n)]


class Reader:
    """A live-channel reader: resumes from its cursor, remembers what it was given."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.cursor = settled_head(ledger)
        self.seen: list[tuple[str, str]] = []

    def read(self) -> list[tuple[str, str]]:
        got: list[tuple[str, str]] = []
        while True:
            with self.ledger.db.read() as conn:
                batch = read_after(conn, self.cursor)
            if not batch:
                break
            self.cursor = end_of(batch)
            for message in batch:
                data = json.loads(message.data)
                if data["type"] == "session":
                    got.append(("session", data["session"]["id"]))
                elif data["type"] == "event":
                    got.append(("event", data["event"]["session_id"]))
        self.seen.extend(got)
        return got

    def until(self, count: int) -> list[tuple[str, str]]:
        """Read until ``count`` messages came: a write transaction of anyone else in this
        database (another test, another daemon) holds back what came after it."""
        got: list[tuple[str, str]] = []
        deadline = time.monotonic() + WAIT_S
        while len(got) < count:
            assert time.monotonic() < deadline, f"only {got} were delivered"
            got.extend(self.read())
            time.sleep(0.05)
        return got


def _touch(conn: Connection, session_id: str) -> None:
    """A session write (a change row) and an event, in the caller's open transaction."""
    conn.execute(text("UPDATE sessions SET title = 'x' WHERE id = :s"), {"s": session_id})
    conn.execute(
        text(
            "INSERT INTO events (session_id, kind, created_at, preview, size, dedup_key)"
            " VALUES (:s, 'message', 1.0, 'hi', 2, :k)"
        ),
        {"s": session_id, "k": f"k-{time.monotonic_ns()}"},
    )


def _ids(conn: Connection) -> tuple[int, int]:
    row = conn.execute(
        text("SELECT (SELECT max(id) FROM changes), (SELECT max(id) FROM events)")
    ).one()
    return int(row[0]), int(row[1])


def test_a_later_id_committed_first_does_not_hide_an_earlier_one(
    pg_ledger: Ledger, tmp_path: Path
) -> None:
    first, second = _sessions(pg_ledger, tmp_path / "web", 2)
    reader = Reader(pg_ledger)
    engine = pg_ledger.db.engine
    with engine.connect() as slow, engine.connect() as fast:
        slow.begin()
        _touch(slow, first)  # takes the lower ids, commits last
        fast.begin()
        _touch(fast, second)
        assert _ids(fast) > _ids(slow)
        fast.commit()
        assert reader.read() == []  # held back while the older transaction may still commit
        slow.commit()
    assert sorted(reader.until(4)) == [
        ("event", first),
        ("event", second),
        ("session", first),
        ("session", second),
    ]
    assert reader.read() == []


def test_an_older_transaction_with_higher_ids_is_read_at_once_and_the_rest_later(
    pg_ledger: Ledger, tmp_path: Path
) -> None:
    first, second = _sessions(pg_ledger, tmp_path / "web", 2)
    reader = Reader(pg_ledger)
    engine = pg_ledger.db.engine
    with engine.connect() as older, engine.connect() as newer:
        older.begin()
        older.execute(text("SELECT pg_current_xact_id()"))  # its transaction id comes first
        newer.begin()
        _touch(newer, first)  # lower ids, younger transaction
        _touch(older, second)  # higher ids, older transaction
        older.commit()
        assert sorted(reader.until(2)) == [("event", second), ("session", second)]
        newer.commit()
    assert sorted(reader.until(2)) == [("event", first), ("session", first)]
    assert len(reader.seen) == len(set(reader.seen)) == 4


def test_a_transaction_in_another_database_of_the_server_holds_nothing_back(
    pg_ledger: Ledger, tmp_path: Path
) -> None:
    """Another application's open transaction on the same server cannot write these tables."""
    (session,) = _sessions(pg_ledger, tmp_path / "web", 1)
    reader = Reader(pg_ledger)
    elsewhere = PG_ADMIN.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(elsewhere) as other_app:
        other_app.execute("SELECT pg_current_xact_id()")  # open, and holding a transaction id
        with pg_ledger.db.write() as conn:
            _touch(conn, session)
        assert sorted(reader.until(2)) == [("event", session), ("session", session)]
        other_app.rollback()


def test_cursors_name_the_transaction_on_postgresql_and_parse_back(pg_ledger: Ledger) -> None:
    with pg_ledger.db.read() as conn:
        cursor = changes.head(conn)
    assert Cursor.parse(str(cursor)) == cursor
    assert Cursor.parse("12-34") == Cursor(12, 34)
    assert str(Cursor(12, 34, 100, 101)) == "100.12-101.34"


def _backend_pid(bus: PostgresBus) -> int:
    deadline = time.monotonic() + WAIT_S
    while bus.conn is None or bus.conn.closed:
        assert time.monotonic() < deadline, "the bus never listened"
        time.sleep(0.05)
    return bus.conn.info.backend_pid


def test_a_notify_from_another_writer_wakes_the_bus_and_a_dropped_listen_reconnects(
    pg_ledger: Ledger, tmp_path: Path, pg_url: str
) -> None:
    (session,) = _sessions(pg_ledger, tmp_path / "web", 1)
    woken = threading.Event()
    bus = PostgresBus(pg_url)
    bus.start(woken.set)
    other = Database(pg_url)  # another daemon's engine: only NOTIFY reaches this bus
    try:
        first_pid = _backend_pid(bus)
        assert woken.wait(WAIT_S)  # the catch-up nudge on connecting
        for _ in range(2):
            woken.clear()
            with other.write() as conn:
                sessions.set_model(conn, session, "gpt-5")
            assert woken.wait(WAIT_S), "a commit elsewhere did not wake the bus"
            with psycopg.connect(PG_ADMIN) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (first_pid,))
            deadline = time.monotonic() + WAIT_S
            while (pid := _backend_pid(bus)) == first_pid:
                assert time.monotonic() < deadline, "the bus did not listen again"
                time.sleep(0.05)
            first_pid = pid
    finally:
        bus.stop()
        other.dispose()


def test_the_feed_delivers_what_was_committed_while_its_listen_was_down(
    pg_ledger: Ledger, tmp_path: Path, pg_url: str
) -> None:
    (session,) = _sessions(pg_ledger, tmp_path / "web", 1)
    bus = PostgresBus(pg_url)
    feed = Feed(pg_ledger, [bus])
    other = Database(pg_url)

    async def scenario() -> list[str]:
        feed.start()
        subscriber, _, _ = feed.subscribe(None)
        pid = await asyncio.to_thread(_backend_pid, bus)
        with psycopg.connect(PG_ADMIN) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for model in ("m1", "m2", "m3"):
            with other.write() as conn:
                sessions.set_model(conn, session, model)
        got: list[str] = []
        async with asyncio.timeout(WAIT_S):
            while "m3" not in got:
                batch = await subscriber.queue.get()
                assert batch is not None
                for message in subscriber.take(batch):
                    data = json.loads(message.data)
                    if data["type"] == "session":
                        got.append(data["session"]["model"])
        feed.stop()
        return got

    try:
        got = asyncio.run(scenario())
    finally:
        other.dispose()
    assert got[-1] == "m3" and len(got) == len(set(got))  # the latest state, each once
