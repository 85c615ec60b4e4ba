"""The ledger on SQLite and PostgreSQL alike (the ``ledger`` fixture runs both)."""

from pathlib import Path

import pytest

from tether.domain.records import EventKind, Origin
from tether.domain.states import SessionState, TurnState
from tether.errors import Conflict, IllegalTransition, InvalidId, InvalidInput, NotFound
from tether.ledger import events, projects, sessions, turns
from tether.ledger.events import NewEvent
from tether.ledger.migrate import current_revision, head_revision, migrate
from tether.ledger.store import Ledger


def _project(ledger: Ledger, tmp_path: Path, name: str = "web"):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.mkdir(exist_ok=True)
    with ledger.db.write() as conn:
        return projects.add(conn, path, name=name, default_agent="codex")


def test_migrations_are_at_head_and_idempotent(ledger: Ledger) -> None:
    assert current_revision(ledger.db) == head_revision()
    migrate(ledger.db)
    assert current_revision(ledger.db) == head_revision()


def test_projects(ledger: Ledger, tmp_path: Path) -> None:
    project = _project(ledger, tmp_path)
    assert (project.name, project.prefix, project.default_agent) == ("web", "web", "codex")
    with ledger.db.write() as conn, pytest.raises(Conflict, match="name 'web'"):
        projects.add(conn, tmp_path / "elsewhere", name="web")
    with ledger.db.read() as conn:
        assert [p.name for p in projects.list_all(conn)] == ["web"]
        assert projects.find_by_path(conn, tmp_path / "web" / "src" / "a.py") == project
        assert projects.find_by_path(conn, tmp_path) is None
        with pytest.raises(NotFound, match="no project named 'api'"):
            projects.get(conn, "api")


def test_session_numbers_and_native_id_uniqueness(ledger: Ledger, tmp_path: Path) -> None:
    project = _project(ledger, tmp_path)
    with ledger.db.write() as conn:
        first = sessions.create(conn, project, "gemini", str(tmp_path))
        second = sessions.create(conn, project, "claude", str(tmp_path))
    assert (first.id, second.id) == ("web-1", "web-2")
    assert first.agent == "gemini" and first.origin is Origin.TETHER
    assert first.state is SessionState.IDLE
    with ledger.db.write() as conn:
        sessions.bind_native_id(conn, first, "thread-a")
    with ledger.db.write() as conn:
        sessions.bind_native_id(conn, sessions.get(conn, "web-1"), "thread-a")  # same id: fine
    with ledger.db.write() as conn, pytest.raises(Conflict, match="does not rebind"):
        sessions.bind_native_id(conn, sessions.get(conn, "web-1"), "thread-b")
    with ledger.db.write() as conn:
        third = sessions.create(conn, project, "gemini", str(tmp_path))
    with ledger.db.write() as conn, pytest.raises(Conflict, match="another tether session"):
        sessions.bind_native_id(conn, third, "thread-a")
    with ledger.db.write() as conn:  # the same native id under another agent is another thread
        sessions.bind_native_id(conn, second, "thread-a")
        found = sessions.find_by_native_id(conn, "gemini", "thread-a")
    assert found is not None and found.id == "web-1"


def test_unique_native_id_is_a_database_constraint(ledger: Ledger, tmp_path: Path) -> None:
    project = _project(ledger, tmp_path)
    with ledger.db.write() as conn:
        sessions.create(conn, project, "codex", "/w", native_id="n1")
    with ledger.db.write() as conn, pytest.raises(Conflict):
        sessions.create(conn, project, "codex", "/w", native_id="n1")
    with ledger.db.read() as conn:
        assert len(sessions.list_page(conn).items) == 1


def test_turns_idempotency_and_states(ledger: Ledger, tmp_path: Path) -> None:
    project = _project(ledger, tmp_path)
    with ledger.db.write() as conn:
        session = sessions.create(conn, project, "codex", str(tmp_path))
        first, created = turns.add(conn, session, "hello", key="k1")
        again, created_again = turns.add(conn, session, "hello, twice", key="k1")
        second, _ = turns.add(conn, session, "next")
    assert created and not created_again
    assert again == first and first.id == "web-1.1" and second.id == "web-1.2"
    assert first.state is TurnState.QUEUED and first.phases.accepted is not None
    with ledger.db.read() as conn:
        assert sessions.get(conn, "web-1").state is SessionState.QUEUED
    with ledger.db.write() as conn:
        turns.transition(conn, first.id, TurnState.DISPATCHED, dispatched_at=1.0)
        assert sessions.get(conn, "web-1").state is SessionState.RUNNING
        turns.transition(conn, first.id, TurnState.RUNNING)
        done = turns.transition(conn, first.id, TurnState.COMPLETED, reason="agent finished")
        assert sessions.get(conn, "web-1").state is SessionState.QUEUED
        turns.transition(conn, second.id, TurnState.CANCELLED, reason="cancelled by user")
        assert sessions.get(conn, "web-1").state is SessionState.IDLE
    assert done.phases.finished is not None and done.reason == "agent finished"
    with ledger.db.write() as conn, pytest.raises(IllegalTransition, match="terminal"):
        turns.transition(conn, first.id, TurnState.FAILED)
    with ledger.db.read() as conn:
        assert turns.get(conn, first.id).state is TurnState.COMPLETED
        assert [t.id for t in turns.for_session(conn, "web-1")] == ["web-1.1", "web-1.2"]
        assert turns.latest(conn, "web-1") == turns.get(conn, "web-1.2")
    with ledger.db.write() as conn, pytest.raises(InvalidInput):
        turns.add(conn, session, "x", key="k" * 300)


def test_session_listing_filters_and_cursor(ledger: Ledger, tmp_path: Path) -> None:
    web = _project(ledger, tmp_path, "web")
    api = _project(ledger, tmp_path, "api")
    with ledger.db.write() as conn:
        for i in range(7):
            sessions.create(conn, web if i % 2 else api, "claude" if i < 3 else "codex", "/w")
    with ledger.db.read() as conn:
        page = sessions.list_page(conn, limit=3)
        assert [s.id for s in page.items] == ["api-4", "web-3", "api-3"]
        rest = sessions.list_page(conn, limit=3, before=page.next_cursor)
        assert [s.id for s in rest.items] == ["web-2", "api-2", "web-1"]
        last = sessions.list_page(conn, limit=3, before=rest.next_cursor)
        assert [s.id for s in last.items] == ["api-1"] and last.next_cursor is None
        assert {s.project for s in sessions.list_page(conn, project="web").items} == {"web"}
        assert {s.agent for s in sessions.list_page(conn, agent="claude").items} == {"claude"}
        assert len(sessions.list_page(conn, agent="claude").items) == 3
        assert sessions.list_page(conn, state=SessionState.RUNNING).items == []
        with pytest.raises(InvalidInput, match="cursor"):
            sessions.list_page(conn, before="../1")
        with pytest.raises(InvalidInput, match="limit"):
            sessions.list_page(conn, limit=0)
        with pytest.raises(InvalidId):
            sessions.get(conn, "../etc")
        with pytest.raises(NotFound):
            sessions.get(conn, "web-99")


def test_events_bounded_deduplicated_and_paged(ledger: Ledger, tmp_path: Path) -> None:
    project = _project(ledger, tmp_path)
    with ledger.db.write() as conn:
        session = sessions.create(conn, project, "codex", "/w")
    big = "start " + "x" * 200_000 + " end"
    new = [
        NewEvent(session.id, EventKind.MESSAGE, f"message {i}", dedup_key=f"s:{i}")
        for i in range(250)
    ]
    new.append(NewEvent(session.id, EventKind.TOOL_RESULT, big, dedup_key="s:big"))
    rows = [events.row_for(e, ledger.blobs, limit=1024) for e in new]
    with ledger.db.write() as conn:
        events.insert_rows(conn, rows)
    with ledger.db.write() as conn:  # the same stream read again stores nothing twice
        events.insert_rows(conn, rows)
    with ledger.db.read() as conn:
        first = events.page(conn, session.id, limit=100)
        second = events.page(conn, session.id, before=first.next_cursor, limit=100)
        third = events.page(conn, session.id, before=second.next_cursor, limit=100)
    seen = [e.preview for e in first.items + second.items + third.items]
    assert len(seen) == 251 and len(set(seen)) == 251
    assert third.next_cursor is None
    newest = first.items[0]
    assert newest.kind is EventKind.TOOL_RESULT and newest.size == len(big)
    assert len(newest.preview.encode()) <= 1024 and newest.preview.endswith(" end")
    assert newest.blob is not None and ledger.blobs.get(newest.blob) == big.encode()
    assert first.items[1].preview == "message 249" and first.items[1].blob is None


def test_event_pages_keep_a_byte_budget(ledger: Ledger, tmp_path: Path) -> None:
    project = _project(ledger, tmp_path)
    with ledger.db.write() as conn:
        session = sessions.create(conn, project, "codex", "/w")
    big = [
        events.row_for(
            NewEvent(session.id, EventKind.TOOL_RESULT, f"{i}" + "x" * 20_000, dedup_key=str(i)),
            ledger.blobs,
            limit=16 * 1024,
        )
        for i in range(150)
    ]
    with ledger.db.write() as conn:
        events.insert_rows(conn, big)
    seen: list[int] = []
    cursor = None
    with ledger.db.read() as conn:
        while True:
            page = events.page(conn, session.id, before=cursor, limit=500)
            assert sum(len(e.preview) for e in page.items) <= events.PAGE_BUDGET_BYTES
            seen += [e.id for e in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
    assert len(seen) == len(set(seen)) == 150
