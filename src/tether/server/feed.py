"""One reader of the change feed per daemon, fanned out to every live-channel subscriber.

The feed thread wakes on a bus nudge (or a slow tick), reads what the ledger
committed after its cursor, encodes each change once as an SSE message and
hands the batch to the event loop, which appends it to a ring of recent
messages and to each subscriber's queue. A subscriber that resumes from a
position still in the ring replays from memory; an older one replays from the
ledger; one older than the kept change log is told to reset.
"""

import asyncio
import json
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from tether.domain import serialize
from tether.engine.audit import stored_finding
from tether.errors import NotFound, TetherError
from tether.ledger import changes, findings, notices, sessions, threads, turns
from tether.ledger.changes import Cursor
from tether.ledger.store import Ledger
from tether.server.bus import Bus

log = logging.getLogger(__name__)
BATCH = 500  # rows of each kind read per pass
RING = 20_000  # recent messages kept in memory for resumes
QUEUE = 20_000  # messages a subscriber may fall behind before it is dropped (and resumes)
REPLAY_LIMIT = 5_000  # a longer gap is answered with a reset: the page re-reads
PREVIEW_CHARS = 500  # of an event's preview, in the stream (the page fetches the rest)
TICK_S = 0.25  # fallback read when no nudge came (another process on the same SQLite file)
KEEP_CHANGES = 200_000


@dataclass(frozen=True, slots=True)
class Message:
    cursor: Cursor
    kind: str  # message | reset
    data: str
    wire: bytes = field(init=False, repr=False, compare=False)  # encoded once, sent to all

    def __post_init__(self) -> None:
        wire = f"id: {self.cursor}\nevent: {self.kind}\ndata: {self.data}\n\n".encode()
        object.__setattr__(self, "wire", wire)

    def encode(self) -> bytes:
        return self.wire


@dataclass(frozen=True, slots=True)
class Batch:
    """One read's messages, oldest first, with their wire bytes joined once for every
    subscriber. Positions only grow within a batch, so a subscriber that is behind its
    first message takes the whole batch without checking each message."""

    messages: list[Message]
    wire: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "wire", b"".join(m.wire for m in self.messages))

    def __len__(self) -> int:
        return len(self.messages)


@dataclass(eq=False)
class Subscriber:
    """Batches as the feed read them (one queue item each, shared by every subscriber)."""

    queue: asyncio.Queue[Batch | None] = field(default_factory=asyncio.Queue)
    pending: int = 0  # messages queued and not yet taken
    dropped: bool = False  # fell QUEUE messages behind: ends, and the browser resumes

    def take(self, batch: Batch) -> list[Message]:
        self.pending -= len(batch)
        return batch.messages


def _session_payload(conn: Connection, change: changes.Change) -> dict[str, Any]:
    try:
        s = sessions.get(conn, change.subject)
    except NotFound:
        return {"type": "session", "session": {"id": change.subject, "deleted": True}}
    data = serialize.session(s)
    data["title"] = (s.title or "")[:200]
    return {"type": "session", "session": data}


def _turn_payload(conn: Connection, change: changes.Change) -> dict[str, Any]:
    try:
        t = turns.get(conn, change.subject)
    except NotFound:
        return {"type": "turn", "turn": {"id": change.subject, "session_id": change.session_id}}
    data = serialize.turn(t)
    data["prompt"] = t.prompt[:200]
    return {"type": "turn", "turn": data}


def _thread_payload(conn: Connection, change: changes.Change) -> dict[str, Any]:
    current = threads.current(conn, change.session_id)
    data = None if current is None else serialize.thread(current)
    return {"type": "thread", "session_id": change.session_id, "thread": data}


def _finding_payload(conn: Connection, change: changes.Change) -> dict[str, Any]:
    row = findings.get(conn, int(change.subject))
    if row is None:
        return {"type": "finding", "finding": {"id": int(change.subject), "resolved": True}}
    return {
        "type": "finding",
        "finding": {**stored_finding(row), "resolved": bool(row["resolved_at"])},
    }


def _notice_payload(conn: Connection, change: changes.Change) -> dict[str, Any]:
    return {"type": "notice", "notice": notices.payload(conn, int(change.subject))}


def _other_payload(conn: Connection, change: changes.Change) -> dict[str, Any]:
    """A kind of change this daemon does not know (a newer peer wrote it): named, not read."""
    return {"type": "change", "kind": change.kind, "subject": change.subject}


PAYLOADS = {
    "session": _session_payload,
    "turn": _turn_payload,
    "thread": _thread_payload,
    "finding": _finding_payload,
    "notice": _notice_payload,
}


def read_after(conn: Connection, after: Cursor, upto: Cursor | None = None) -> list[Message]:
    """Messages for what was committed after ``after`` (up to ``upto``), oldest first.

    Several writes of one session or turn in a batch become one message, its
    latest state, at the position of its last write.
    """
    below = changes.visible_below(conn)
    found = [
        c
        for c in changes.changes_after(conn, after.change_at, BATCH, below)
        if upto is None or c.at <= upto.change_at
    ]
    latest = {(c.kind, c.subject): c for c in found}
    out: list[Message] = []
    for change in found:
        if latest[(change.kind, change.subject)] is not change:
            continue
        payload = PAYLOADS.get(change.kind, _other_payload)(conn, change)
        at = Cursor(change.id, after.event, change.xid, after.event_xid)
        out.append(Message(at, "message", json.dumps(payload)))
    last = found[-1] if found else None
    last_change = last.at if last else after.change_at
    notes = changes.events_after(conn, after.event_at, BATCH, PREVIEW_CHARS, below)
    for note in notes:
        if upto is not None and note.at > upto.event_at:
            break
        payload = {
            "type": "event",
            "event": {
                "id": note.id,
                "session_id": note.session_id,
                "turn_id": note.turn_id,
                "kind": note.kind,
                "preview": note.preview,
            },
        }
        at = Cursor(last_change[1], note.id, last_change[0], note.xid)
        out.append(Message(at, "message", json.dumps(payload)))
    return out


def reset(cursor: Cursor) -> Message:
    return Message(cursor, "reset", "{}")


class Feed:
    def __init__(self, ledger: Ledger, buses: list[Bus]) -> None:
        self.ledger = ledger
        self.buses = buses
        self.nudged = threading.Event()
        self.stopping = threading.Event()
        self.ring: deque[Message] = deque(maxlen=RING)
        self.subscribers: set[Subscriber] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.cursor = Cursor(0, 0)

    # Lifecycle (the event loop's own thread)

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        with self.ledger.db.read() as conn:
            self.cursor = changes.head(conn)
        for bus in self.buses:
            bus.start(self.nudged.set)
        self.thread = threading.Thread(target=self._run, name="tether-feed", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.nudged.set()
        for bus in self.buses:
            bus.stop()
        if self.thread is not None:
            self.thread.join(timeout=5)
        for subscriber in self.subscribers:
            _offer(subscriber, None)

    # The feed thread

    def _run(self) -> None:
        passes = 0
        while not self.stopping.is_set():
            self.nudged.wait(TICK_S)
            self.nudged.clear()
            try:
                while self._read_once():
                    pass
                passes += 1
                if passes % 600 == 0:
                    with self.ledger.db.write() as conn:
                        changes.prune(conn, KEEP_CHANGES)
            except TetherError as exc:
                log.warning("action=feed_read_failed error=%s", exc)
                self.stopping.wait(TICK_S)
            except Exception:  # a dead feed thread would freeze every page: log, go on
                log.exception("action=feed_read_failed")
                self.stopping.wait(TICK_S)

    def _read_once(self) -> bool:
        """Read one batch; True when there may be more right away."""
        with self.ledger.db.read() as conn:
            batch = read_after(conn, self.cursor)
        if not batch:
            return False
        self.cursor = end_of(batch)
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self._fanout, Batch(batch))
        return len(batch) >= BATCH

    # Subscribers (the event loop's thread)

    def _fanout(self, batch: Batch) -> None:
        self.ring.extend(batch.messages)
        for subscriber in list(self.subscribers):
            if not _offer(subscriber, batch):
                subscriber.dropped = True
                self.subscribers.discard(subscriber)

    def subscribe(self, after: Cursor | None) -> tuple[Subscriber, list[Message] | None, Cursor]:
        """A new subscriber, what it missed from memory (None: read the ledger), and the
        position the feed has delivered up to (replay from the ledger stops there)."""
        subscriber = Subscriber()
        self.subscribers.add(subscriber)
        position = self.ring[-1].cursor if self.ring else self.cursor
        if after is None or after == position:
            return subscriber, [], position
        if self.ring and _precedes_or_is(self.ring[0].cursor, after):
            return subscriber, [m for m in self.ring if m.cursor.later_than(after)], position
        return subscriber, None, position

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def replay(self, after: Cursor, upto: Cursor) -> list[Message]:
        """What a subscriber missed before the ring began, from the ledger (thread pool)."""
        with self.ledger.db.read() as conn:
            if after.later_than(upto):
                return [reset(upto)]  # a position this ledger never gave out
            oldest = changes.oldest_change(conn)
            if oldest and after.change < oldest - 1:
                return [reset(upto)]  # pruned from the change log
            out: list[Message] = []
            cursor = after
            while len(out) <= REPLAY_LIMIT:
                batch = read_after(conn, cursor, upto)
                if not batch:
                    return out
                out.extend(batch)
                cursor = end_of(batch)
        return [reset(upto)]


def end_of(batch: list[Message]) -> Cursor:
    """The position after a batch: the furthest change and the furthest event in it."""
    change = max(m.cursor.change_at for m in batch)
    event = max(m.cursor.event_at for m in batch)
    return Cursor(change[1], event[1], change[0], event[0])


def _precedes_or_is(cursor: Cursor, position: Cursor) -> bool:
    return cursor.change_at <= position.change_at and cursor.event_at <= position.event_at


def _offer(subscriber: Subscriber, batch: Batch | None) -> bool:
    if batch is not None:
        if subscriber.pending + len(batch) > QUEUE:
            return False
        subscriber.pending += len(batch)
    subscriber.queue.put_nowait(batch)
    return True
