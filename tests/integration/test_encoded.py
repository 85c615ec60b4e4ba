"""Event pages encoded once and kept by id: the same pages as the ledger's, on both backends."""

from pathlib import Path

from tether.domain.records import Event, EventKind
from tether.ledger import events, history, projects, sessions
from tether.ledger.events import NewEvent
from tether.ledger.store import Ledger
from tether.server.encoded import ENTRY_BYTES, EncodedEvents


class Counting:
    """An encoder that says which events it was asked to encode."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, event: Event) -> str:
        self.calls.append(event.id)
        return f"{event.session_id}/{event.id}/{event.kind.value}/{event.preview}"


def _session(ledger: Ledger, tmp_path: Path, n: int, text: str = "message") -> str:
    (tmp_path / "web").mkdir(exist_ok=True)
    with ledger.db.write() as conn:
        project = projects.find_by_path(conn, tmp_path / "web") or projects.add(
            conn, tmp_path / "web", name="web"
        )
        session = sessions.create(conn, project, "codex", "/w")
        rows = [
            events.row_for(
                NewEvent(
                    session.id,
                    EventKind.TOOL_RESULT if i % 3 else EventKind.MESSAGE,
                    f"{text} {i}",
                    turn_id=f"{session.id}.{1 + i // 10}",
                    data={"role": "assistant"} if i % 2 else None,
                ),
                ledger.blobs,
            )
            for i in range(n)
        ]
        events.insert_rows(conn, rows)
    return session.id


def _pages(
    ledger: Ledger, session_id: str, limit: int, cache: EncodedEvents | None
) -> list[tuple[list[int], str | None]]:
    """Every page from the newest, as (ids, cursor) pairs, with the cache or from the ledger."""
    out: list[tuple[list[int], str | None]] = []
    cursor = None
    while True:
        with ledger.db.read() as conn:
            if cache is None:
                page = events.page(conn, session_id, cursor, limit)
                ids, cursor = [e.id for e in page.items], page.next_cursor
            else:
                kept = cache.page(conn, session_id, cursor, limit)
                ids, cursor = [e.id for e in kept.items], kept.next_cursor
        out.append((ids, cursor))
        if cursor is None:
            return out


def test_pages_match_the_ledger_and_encode_each_event_once(ledger: Ledger, tmp_path: Path) -> None:
    session_id = _session(ledger, tmp_path, 95)
    encode = Counting()
    cache = EncodedEvents(encode)
    for limit in (1, 7, 40, 100):
        assert _pages(ledger, session_id, limit, cache) == _pages(ledger, session_id, limit, None)
    assert sorted(encode.calls) == sorted(set(encode.calls)) and len(encode.calls) == 95
    with ledger.db.read() as conn:
        page = cache.page(conn, session_id, None, 3)
        newest = events.page(conn, session_id, None, 3).items
    assert [e.text for e in page.items] == [
        f"{session_id}/{e.id}/{e.kind.value}/{e.preview}" for e in newest
    ]
    assert [e.turn_id for e in page.items] == [e.turn_id for e in newest]
    assert len(encode.calls) == 95  # all three kept


def test_a_page_keeps_the_byte_budget_of_the_ledger_s(ledger: Ledger, tmp_path: Path) -> None:
    session_id = _session(ledger, tmp_path, 150, text="x" * 15_000)
    cache = EncodedEvents(Counting())
    pages = _pages(ledger, session_id, 500, cache)
    assert pages == _pages(ledger, session_id, 500, None)
    assert len(pages) > 1  # the budget, not the limit, cut them


def test_new_events_and_moved_ones_are_read_not_taken_stale(ledger: Ledger, tmp_path: Path) -> None:
    moved = _session(ledger, tmp_path, 5)
    target = _session(ledger, tmp_path, 0)
    encode = Counting()
    cache = EncodedEvents(encode)
    with ledger.db.read() as conn:
        before = [e.text for e in cache.page(conn, moved, None, 10).items]
    with ledger.db.write() as conn:
        history.move_session(conn, moved, target, None, None)
    with ledger.db.read() as conn:
        after = [e.text for e in cache.page(conn, target, None, 10).items]
    assert [t.replace(moved, target, 1) for t in before] == after
    added = _session(ledger, tmp_path, 0)
    with ledger.db.write() as conn:
        events.insert_rows(
            conn, [events.row_for(NewEvent(added, EventKind.MESSAGE, "new"), ledger.blobs)]
        )
    with ledger.db.read() as conn:
        assert [e.text.rsplit("/", 1)[1] for e in cache.page(conn, added, None, 10).items] == [
            "new"
        ]


def test_what_is_kept_stays_within_its_byte_budget(ledger: Ledger, tmp_path: Path) -> None:
    session_id = _session(ledger, tmp_path, 60)
    encode = Counting()
    cache = EncodedEvents(encode, budget=3000)
    assert _pages(ledger, session_id, 20, cache) == _pages(ledger, session_id, 20, None)
    kept = cache.kept.values()
    assert 0 < cache.size <= 3000 and cache.size == sum(len(e.text) + ENTRY_BYTES for e in kept)
    calls = len(encode.calls)
    with ledger.db.read() as conn:
        cache.page(conn, session_id, None, 60)
    assert len(encode.calls) > calls  # the oldest were let go and encoded again
