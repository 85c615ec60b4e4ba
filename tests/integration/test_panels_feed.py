"""Thread fill, audit findings and notices on the live channel and in the pages (both backends).

The change log is written by the ledger's triggers; the feed turns each kind
into a message; the overview's audit panel and the session's gauge read only
stored rows.
"""

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support import wait_for

from tether.config import Config
from tether.domain.notices import notice_for
from tether.domain.records import Session
from tether.domain.states import TurnState
from tether.engine.audit import Auditor
from tether.engine.supervisor import Engine
from tether.ledger import findings, notices, projects, sessions, threads, turns
from tether.ledger.changes import Cursor
from tether.ledger.store import Ledger
from tether.server.app import create_app
from tether.server.feed import read_after

HOSTILE = '<script>alert("t")</script><img src=x onerror=alert(1)>'


def _session(ledger: Ledger, tmp_path: Path, model: str | None = "gpt-5") -> Session:
    (tmp_path / "web").mkdir(exist_ok=True)
    with ledger.db.write() as conn:
        if projects.find_by_path(conn, tmp_path / "web") is None:
            projects.add(conn, tmp_path / "web", name="web")
        owner = projects.get(conn, "web")
        return sessions.create(conn, owner, "codex", str(tmp_path / "web"), model=model)


def _upto_marker(ledger: Ledger, tmp_path: Path, after: Cursor) -> tuple[list[Any], Cursor]:
    """The messages after ``after`` up to a marker written now (a new session), once the
    marker is readable: on PostgreSQL the feed reads only below the oldest running
    transaction, which anyone's transaction on the server can hold back for a while."""
    marker = _session(ledger, tmp_path).id

    def read() -> tuple[list[Any], Cursor] | None:
        with ledger.db.read() as conn:
            found = read_after(conn, after)
        data = [json.loads(m.data) for m in found]
        if not any(d["type"] == "session" and d["session"]["id"] == marker for d in data):
            return None
        return [d for d in data if d.get("session", {}).get("id") != marker], found[-1].cursor

    return wait_for(read, "the marker write is readable")  # type: ignore[no-any-return]


def test_thread_fill_findings_and_notices_reach_the_change_feed(
    ledger: Ledger, tmp_path: Path
) -> None:
    session = _session(ledger, tmp_path)
    _, start = _upto_marker(ledger, tmp_path, Cursor(0, 0))
    with ledger.db.write() as conn:
        sessions.bind_native_id(conn, session, "thread-1")
        threads.measure(conn, session, tokens=136_000, window=272_000, log_bytes=4096)
    sent, quiet = _upto_marker(ledger, tmp_path, start)
    thread_messages = [m for m in sent if m["type"] == "thread"]
    assert thread_messages[-1]["session_id"] == session.id
    assert thread_messages[-1]["thread"]["fill"] == 0.5
    assert thread_messages[-1]["thread"]["log_bytes"] == 4096

    with ledger.db.write() as conn:  # nothing a page shows changed: no message
        threads.measure(conn, session, tokens=136_000, window=272_000, log_bytes=4096)
    sent, found = _upto_marker(ledger, tmp_path, quiet)
    assert [m for m in sent if m["type"] == "thread"] == []

    seen = findings.Seen("stalled", "turn x stalled", {"session": session.id}, 100.0)
    with ledger.db.write() as conn:
        findings.sync(conn, "h1", [seen], 200.0)
    sent, again = _upto_marker(ledger, tmp_path, found)
    opened = [m for m in sent if m["type"] == "finding"]
    assert [(m["finding"]["code"], m["finding"]["resolved"]) for m in opened] == [
        ("stalled", False)
    ]
    assert opened[0]["finding"]["hint"] and opened[0]["finding"]["ids"] == {"session": session.id}
    with ledger.db.write() as conn:
        findings.sync(conn, "h1", [seen], 260.0)  # still there: no message
        findings.sync(conn, "h1", [], 320.0)  # gone: resolved
    sent, told = _upto_marker(ledger, tmp_path, again)
    resolved = [m for m in sent if m["type"] == "finding"]
    assert [m["finding"]["resolved"] for m in resolved] == [True]

    with ledger.db.write() as conn:
        turn, _ = turns.add(conn, session, "do it")
        turns.transition(conn, turn.id, TurnState.DISPATCHED, dispatched_at=time.time())
        turns.transition(conn, turn.id, TurnState.FAILED, reason="boom", finished_at=time.time())
        notice = notice_for(turns.get(conn, turn.id), session)
        assert notice is not None
        notices.add(conn, notice, "h1", set())
        assert not notices.add(conn, notice, "h1", set())  # once per tag
    sent = [m for m in _upto_marker(ledger, tmp_path, told)[0] if m["type"] == "notice"]
    assert len(sent) == 1 and sent[0]["notice"]["tag"] == f"{turn.id}:failed"
    assert sent[0]["notice"]["kind"] == "needs_you" and sent[0]["notice"]["cue"]["sticky"]


def test_the_auditor_stores_what_it_finds_and_resolves_what_is_gone(
    config: Config, ledger: Ledger, tmp_path: Path
) -> None:
    session = _session(ledger, tmp_path)
    with ledger.db.write() as conn:
        turn, _ = turns.add(conn, session, "waits forever")
        turns.update_fields(conn, turn.id, {"accepted_at": time.time() - 3600})
    auditor = Auditor(config, ledger)
    auditor.check()
    api = create_app(config, ledger, Engine(config, ledger))

    async def audit() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            return dict((await c.get("/api/audit")).json())

    body = asyncio.run(audit())
    assert body["ok"] is False
    (finding,) = body["findings"]
    assert finding["code"] == "stale_queued" and finding["ids"]["turn"] == turn.id
    assert finding["age_s"] >= 3500 and finding["hint"]
    first_seen = finding["first_seen"]

    auditor.check()  # seen again: the same row, its first sighting kept
    assert asyncio.run(audit())["findings"][0]["first_seen"] == first_seen

    with ledger.db.write() as conn:
        turns.transition(conn, turn.id, TurnState.CANCELLED, reason="not needed")
    auditor.check()
    assert asyncio.run(audit()) == {"checked_at": None, "ok": True, "findings": []}


@pytest.mark.anyio
async def test_overview_audit_panel_shows_code_ids_age_and_what_to_do(
    client: httpx.AsyncClient, ledger: Ledger, tmp_path: Path
) -> None:
    session = _session(ledger, tmp_path)
    assert "nothing to look at" in (await client.get("/")).text
    seen = findings.Seen(
        "stalled",
        f"turn {session.id}.1 stalled {HOSTILE}",
        {"session": session.id, "turn": f"{session.id}.1"},
        time.time() - 190,
    )
    with ledger.db.write() as conn:
        findings.sync(conn, "h1", [seen], time.time())
    for url in ("/", "/partials/audit"):
        page = (await client.get(url)).text
        assert '<code class="code">stalled</code>' in page
        assert f'href="/sessions/{session.id}#turn-{session.id}.1"' in page
        assert '<small class="age">3m</small>' in page
        assert "what to do: look at the turn" in page
        assert HOSTILE not in page and "&lt;script&gt;" in page


@pytest.mark.anyio
async def test_session_gauge_shows_fill_compactions_log_size_and_rotation(
    client: httpx.AsyncClient, ledger: Ledger, tmp_path: Path
) -> None:
    session = _session(ledger, tmp_path)
    assert "No native thread yet." in (await client.get(f"/sessions/{session.id}")).text
    with ledger.db.write() as conn:
        sessions.bind_native_id(conn, session, "thread-1")
        threads.measure(
            conn, session, tokens=231_200, window=272_000, compactions=2, log_bytes=3 << 20
        )
        threads.overflowed(conn, session, "context full: ran out of room")
    for url in (f"/sessions/{session.id}", f"/sessions/{session.id}/gauge"):
        page = (await client.get(url)).text
        assert 'id="gauge"' in page and "<b>85%</b>" in page
        assert "231.2k of 272.0k tokens" in page and 'value="0.8500"' in page
        assert "2 compactions" in page and "3.0 MB" in page
        assert "needs rotation: context full: ran out of room" in page
    assert (await client.get("/sessions/web-999/gauge")).status_code == 404
