"""The live channel over a real socket (uvicorn in a thread) on a real ledger, both backends.

A browser that misses a window resumes with ``Last-Event-ID`` and gets every
missed message once, whether the daemon still holds them in memory or has
restarted and reads them back from the ledger; a position older than the
kept change log is answered with a ``reset`` the page handles by re-reading.
"""

import gc
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import insert
from tests.support import settled_head, wait_for

from tether.config import Config
from tether.domain.records import EventKind, Session
from tether.engine.supervisor import Engine
from tether.ledger import changes, events, projects, sessions, turns
from tether.ledger.events import NewEvent
from tether.ledger.schema import changes as changes_table
from tether.ledger.store import Ledger
from tether.server.app import create_app
from tether.server.bus import CommitBus
from tether.server.feed import read_after

DEADLINE_S = 180.0  # generous: a loaded machine is slow, a broken stream never delivers


@dataclass(frozen=True)
class Sse:
    id: str
    event: str
    data: str


@contextmanager
def serving(config: Config, ledger: Ledger) -> Iterator[str]:
    """The real ASGI app on 127.0.0.1 in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    app = create_app(config, ledger, Engine(config, ledger))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + DEADLINE_S
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=DEADLINE_S)
        sock.close()


class Channel:
    """One SSE connection, read message by message."""

    def __init__(self, http: httpx.Client, base: str, last_event_id: str | None) -> None:
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        self._cm = http.stream("GET", base + "/api/stream", headers=headers)
        response = self._cm.__enter__()
        assert response.status_code == 200, response.read()
        self._lines = response.iter_lines()

    def next(self) -> Sse:
        fields: dict[str, str] = {}
        for line in self._lines:
            if not line:
                if "event" in fields:
                    return Sse(fields.get("id", ""), fields["event"], fields.get("data", ""))
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        raise AssertionError("the stream ended")

    def until(self, done: Callable[[list[Sse]], bool]) -> list[Sse]:
        """Messages (pings left out) until ``done`` holds for what was received."""
        got: list[Sse] = []
        deadline = time.monotonic() + DEADLINE_S
        while not done(got):
            assert time.monotonic() < deadline, f"not delivered; got {got}"
            message = self.next()
            if message.event != "ping":
                got.append(message)
        return got

    def close(self) -> None:
        self._cm.__exit__(None, None, None)


def _event_ids(messages: list[Sse]) -> list[int]:
    out = []
    for m in messages:
        payload = json.loads(m.data)
        if m.event == "message" and payload["type"] == "event":
            out.append(payload["event"]["id"])
    return out


def _session(ledger: Ledger, path: Path) -> Session:
    path.mkdir(parents=True, exist_ok=True)
    with ledger.db.write() as conn:
        owner = projects.add(conn, path, name="web")
        return sessions.create(conn, owner, "codex", str(path))


def _write_events(ledger: Ledger, session: Session, texts: list[str]) -> list[int]:
    rows = [
        events.row_for(NewEvent(session.id, EventKind.MESSAGE, text), ledger.blobs)
        for text in texts
    ]
    with ledger.db.write() as conn:
        events.insert_rows(conn, rows)
        found = events.page(conn, session.id, limit=len(texts))
    return sorted(e.id for e in found.items)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=httpx.Timeout(DEADLINE_S)) as client:
        yield client


@pytest.mark.parametrize("restart", [False, True], ids=["from-memory", "after-restart"])
def test_resume_after_a_missed_window_delivers_each_missed_message_once(
    config: Config, ledger: Ledger, tmp_path: Path, http: httpx.Client, restart: bool
) -> None:
    session = _session(ledger, tmp_path / "web")
    with serving(config, ledger) as base:
        channel = Channel(http, base, None)
        channel.next()  # the first ping: the stream is subscribed
        seen = _write_events(ledger, session, ["before the gap"])
        got = channel.until(lambda g: seen[-1] in _event_ids(g))
        last = got[-1].id
        channel.close()
        missed = _write_events(ledger, session, [f"missed {i}" for i in range(5)])
        with ledger.db.write() as conn:
            turn, _ = turns.add(conn, sessions.get(conn, session.id), "while away")
        if not restart:
            replayed, live = _resume(http, base, last, ledger, session, missed, turn.id)
    if restart:
        with serving(config, ledger) as base:
            replayed, live = _resume(http, base, last, ledger, session, missed, turn.id)
    ids = _event_ids(replayed)
    assert ids == [*missed, live], "each missed event once, in order, then the live one"
    assert seen[-1] not in ids, "nothing delivered before the gap comes again"
    turn_messages = [m for m in replayed if json.loads(m.data)["type"] == "turn"]
    assert [json.loads(m.data)["turn"]["id"] for m in turn_messages] == [turn.id]


def _resume(
    http: httpx.Client,
    base: str,
    last: str,
    ledger: Ledger,
    session: Session,
    missed: list[int],
    turn_id: str,
) -> tuple[list[Sse], int]:
    """Reconnect from ``last``, take the replay, then one event written while connected."""
    channel = Channel(http, base, last)
    try:
        got = channel.until(lambda g: missed[-1] in _event_ids(g) and _has_turn(g, turn_id))
        live = _write_events(ledger, session, ["after the gap"])
        got += channel.until(lambda g: live[-1] in _event_ids(g))
    finally:
        channel.close()
    return got, live[-1]


def _has_turn(messages: list[Sse], turn_id: str) -> bool:
    return any(
        json.loads(m.data).get("turn", {}).get("id") == turn_id
        for m in messages
        if m.event == "message"
    )


def test_a_position_older_than_the_change_log_gets_a_reset(
    config: Config, ledger: Ledger, tmp_path: Path, http: httpx.Client
) -> None:
    session = _session(ledger, tmp_path / "web")
    with ledger.db.write() as conn:
        for i in range(5):
            turns.add(conn, sessions.get(conn, session.id), f"turn {i}")
        assert changes.prune(conn, 2) > 0
    written = _write_events(ledger, session, ["an event"])
    with serving(config, ledger) as base:
        channel = Channel(http, base, "1-0")
        try:
            got = channel.until(lambda g: bool(g))
        finally:
            channel.close()
        assert got[0].event == "reset", got
        # The page re-reads, then resumes from the position the reset gave it.
        channel = Channel(http, base, got[0].id)
        try:
            channel.next()
            live = _write_events(ledger, session, ["after the reset"])
            again = channel.until(lambda g: live[-1] in _event_ids(g))
        finally:
            channel.close()
    assert all(m.event == "message" for m in again)
    ids = _event_ids(again)
    # On PostgreSQL the feed may still hold back the event written before the server
    # started (a transaction elsewhere on the server was running); it comes once, if at all.
    assert ids[-1] == live[-1] and len(ids) == len(set(ids))
    assert set(ids) <= {*written, *live}


def test_only_write_commits_nudge_each_bus(ledger: Ledger, tmp_path: Path) -> None:
    """A read commits too; were it to nudge, the feed's own reads would keep it spinning.
    Two buses on one engine (the feed's and another's) are each nudged by every write."""
    session = _session(ledger, tmp_path / "web")
    nudges: list[str] = []
    buses = {name: CommitBus(ledger.db.engine) for name in ("feed", "other")}
    for name, bus in buses.items():
        bus.start(lambda name=name: nudges.append(name))  # type: ignore[misc]
    try:
        for _ in range(3):
            with ledger.db.read() as conn:
                sessions.get(conn, session.id)
        assert nudges == []
        _write_events(ledger, session, ["a write"])
        assert sorted(nudges) == ["feed", "other"]
    finally:
        for bus in buses.values():
            bus.stop()


def test_a_change_of_a_kind_this_daemon_does_not_know_is_named_and_passed(
    ledger: Ledger, tmp_path: Path
) -> None:
    """A newer peer on the same ledger may write kinds of change an older daemon lacks."""
    session = _session(ledger, tmp_path / "web")
    start = settled_head(ledger)
    with ledger.db.write() as conn:
        conn.execute(
            insert(changes_table).values(kind="widget", subject="w-1", session_id=session.id)
        )
        sessions.set_model(conn, session.id, "gpt-5")

    def both() -> list[dict[str, Any]] | None:
        with ledger.db.read() as conn:
            got = [json.loads(m.data) for m in read_after(conn, start)]
        return got if len(got) == 2 else None

    got = wait_for(both, "both changes are readable")
    assert got[0] == {"type": "change", "kind": "widget", "subject": "w-1"}
    assert got[1]["type"] == "session" and got[1]["session"]["model"] == "gpt-5"


def test_what_start_up_built_is_out_of_the_collector_s_reach(
    config: Config, ledger: Ledger
) -> None:
    """A full collection walked every module, template and statement start-up built,
    pausing every live channel for tens of milliseconds (bench/stream.py)."""
    gc.unfreeze()
    try:
        with serving(config, ledger):
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
