"""Transcript events encoded once, kept by id.

A stored event never changes once written, so its JSON for the API and its
markup for the session page are functions of the row alone. An event page
reads its ids from the (session_id, id) index and encodes only the events it
has not kept: reading and encoding the rows was most of the event page's and
the session page's CPU (bench/api.py). Kept by session and id (adopting an
external session moves its events to another session) under a byte budget,
least recently used first out, that holds the first pages of a few hundred
sessions: at 16 MB, bench/api.py's 200 sessions did not fit, the cache missed
most of the time, and the event page ran at half its speed for seconds.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection

from tether.domain.records import Event
from tether.ledger import events
from tether.ledger.cursor import Page

KEPT_BYTES = 32 * 1024 * 1024  # what each cache keeps: its events' characters and entries
ENTRY_BYTES = 200  # an entry's own objects (key, record, table slot), whatever its text


@dataclass(frozen=True, slots=True)
class Encoded:
    id: int
    turn_id: str | None
    weight: int  # what the event counts against a page's byte budget (events.weight)
    text: str


class EncodedEvents:
    """Pages of events as ``encode`` renders each one, thread-safe (on PostgreSQL reads run
    in the thread pool: server/reads.py)."""

    def __init__(self, encode: Callable[[Event], str], budget: int = KEPT_BYTES) -> None:
        self.encode = encode
        self.budget = budget
        self.kept: OrderedDict[tuple[str, int], Encoded] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()

    def page(
        self, conn: Connection, session_id: str, before: str | None, limit: int
    ) -> Page[Encoded]:
        """``events.page`` encoded: the same items, order and cursor."""
        ids = events.page_ids(conn, session_id, before, limit)
        found = self._take(session_id, ids[:limit])
        missing = [i for i in ids[:limit] if i not in found]
        if missing:
            for event, weight in events.by_ids(conn, missing):
                found[event.id] = self._encoded(event, weight)
            self._keep(session_id, [found[i] for i in missing if i in found])
        weighed = [(found[i], found[i].weight) for i in ids[:limit] if i in found]
        return events.paged(weighed, len(ids))

    def encoded(self, session_id: str, found: list[tuple[Event, int]]) -> list[Encoded]:
        """Events already read with their weights (newer ones a live page asks for), taken
        as kept or encoded."""
        kept = self._take(session_id, [e.id for e, _ in found])
        fresh = [self._encoded(e, w) for e, w in found if e.id not in kept]
        self._keep(session_id, fresh)
        kept.update((item.id, item) for item in fresh)
        return [kept[e.id] for e, _ in found]

    def _encoded(self, event: Event, weight: int) -> Encoded:
        return Encoded(event.id, event.turn_id, weight, self.encode(event))

    def _take(self, session_id: str, ids: list[int]) -> dict[int, Encoded]:
        with self.lock:
            found = {}
            for event_id in ids:
                item = self.kept.get((session_id, event_id))
                if item is not None:
                    self.kept.move_to_end((session_id, event_id))
                    found[event_id] = item
            return found

    def _keep(self, session_id: str, items: list[Encoded]) -> None:
        with self.lock:
            for item in items:
                key = (session_id, item.id)
                if key not in self.kept:
                    self.kept[key] = item
                    self.size += len(item.text) + ENTRY_BYTES
            while self.size > self.budget and self.kept:
                _, dropped = self.kept.popitem(last=False)
                self.size -= len(dropped.text) + ENTRY_BYTES
