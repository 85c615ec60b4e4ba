"""The dashboard's pages through httpx's ASGI transport, on a real ledger (both backends)."""

import os
import re
import time
from pathlib import Path

import httpx
import pytest
from tests.support import entry_row

from tether.domain.records import EventKind, Origin, Session
from tether.domain.states import SessionState, TurnState
from tether.ledger import events, history, projects, schema, sessions, turns
from tether.ledger.events import NewEvent
from tether.ledger.store import Ledger
from tether.server.pages import OVERVIEW_PAGE

pytestmark = pytest.mark.anyio
ORIGIN = {"origin": "http://127.0.0.1:7700"}
HOSTILE = '<script>alert("t")</script><img src=x onerror=alert(1)>'


def _project(ledger: Ledger, path: Path, name: str = "web") -> None:
    path.mkdir(parents=True, exist_ok=True)
    with ledger.db.write() as conn:
        projects.add(conn, path, name=name)


def _session(ledger: Ledger, project: str = "web", agent: str = "codex", **kw: object) -> Session:
    return _sessions(ledger, [agent], project, **kw)[0]


def _sessions(
    ledger: Ledger, agents: list[str], project: str = "web", **kw: object
) -> list[Session]:
    with ledger.db.write() as conn:
        owner = projects.get(conn, project)
        return [sessions.create(conn, owner, a, owner.path, **kw) for a in agents]  # type: ignore[arg-type]


def _turn(ledger: Ledger, session: Session, end: TurnState | None, reason: str = "") -> str:
    with ledger.db.write() as conn:
        turn, _ = turns.add(conn, session, "do the thing")
        if end is not None:
            turns.transition(conn, turn.id, TurnState.DISPATCHED, dispatched_at=time.time())
            turns.transition(conn, turn.id, TurnState.RUNNING, spawned_at=time.time())
            turns.transition(conn, turn.id, end, reason=reason or None)
    return turn.id


def _rows(html: str, table: str) -> list[str]:
    """Session ids of a table's rows, in order."""
    start = html.find(f'id="{table}"')
    if start < 0:
        return []
    body = html[start : html.index("</table>", start)]
    return re.findall(r'<tr data-session="([^"]+)"', body)


async def test_needs_you_first_until_the_session_is_opened(
    client: httpx.AsyncClient, ledger: Ledger, tmp_path: Path
) -> None:
    _project(ledger, tmp_path / "web")
    failed, done, quiet, running = (_session(ledger) for _ in range(4))
    _turn(ledger, failed, TurnState.FAILED, "agent exited with status 3")
    _turn(ledger, done, TurnState.COMPLETED)
    live = _turn(ledger, running, None)
    with ledger.db.write() as conn:
        turns.transition(conn, live, TurnState.DISPATCHED)
        turns.update_fields(conn, live, {"stalled_at": time.time() - 200})

    page = (await client.get("/")).text
    # Problems (failed, stalled) before a finished turn nobody has looked at yet.
    assert _rows(page, "needs-you")[-1] == done.id
    assert set(_rows(page, "needs-you")) == {failed.id, done.id, running.id}
    assert "agent exited with status 3" in page and "stalled 3m" in page
    assert _rows(page, "sessions")[0] == running.id  # running before idle
    assert quiet.id not in _rows(page, "needs-you")

    opened = await client.get(f"/sessions/{done.id}")
    assert opened.status_code == 200
    assert done.id not in _rows((await client.get("/")).text, "needs-you")


async def test_overview_pages_by_cursor_and_filters(
    client: httpx.AsyncClient, ledger: Ledger, tmp_path: Path
) -> None:
    _project(ledger, tmp_path / "web")
    _project(ledger, tmp_path / "api", name="api")
    made = _sessions(ledger, ["claude" if i % 3 else "codex" for i in range(70)])
    other = _session(ledger, project="api", origin=Origin.EXTERNAL, native_id="n-1")
    for s in made[:5]:
        _turn(ledger, s, None)  # queued: listed before idle sessions
    with ledger.db.write() as conn:
        archived = sessions.create(conn, projects.get(conn, "web"), "codex", str(tmp_path))
        conn.execute(
            schema.sessions.update()
            .where(schema.sessions.c.id == archived.id)
            .values(state=SessionState.ARCHIVED.value)
        )

    seen: list[str] = []
    url: str | None = "/"
    while url:
        page = (await client.get(url)).text
        rows = _rows(page, "sessions")
        assert 0 < len(rows) <= OVERVIEW_PAGE
        seen += rows
        found = re.search(r'<a rel="next" href="([^"]+)"', page)
        url = found[1].replace("&amp;", "&") if found else None
    assert sorted(seen) == sorted([s.id for s in made] + [other.id])  # each once, none archived
    assert seen[:5] == [s.id for s in reversed(made[:5])]

    claude = _rows((await client.get("/?agent=claude&project=web")).text, "sessions")
    assert claude and all(int(i.split("-")[1]) % 3 != 1 for i in claude)
    external = _rows((await client.get("/?origin=external")).text, "sessions")
    assert external == [other.id]
    assert _rows((await client.get("/?state=archived")).text, "sessions") == [archived.id]
    bad = await client.get("/?state=bogus")
    assert bad.status_code == 400 and "state cannot be" in bad.text


async def test_session_page_header_timeline_and_transcript_pages(
    client: httpx.AsyncClient, ledger: Ledger, tmp_path: Path
) -> None:
    _project(ledger, tmp_path / "web")
    session = _session(ledger, native_id="thread-abc", model="gpt-5", title=HOSTILE)
    turn_id = _turn(ledger, session, TurnState.COMPLETED)
    rows = [
        events.row_for(
            NewEvent(
                session.id, EventKind.MESSAGE, f"message {i} {HOSTILE}", turn_id, None, str(i)
            ),
            ledger.blobs,
        )
        for i in range(150)
    ]
    big = NewEvent(session.id, EventKind.TOOL_RESULT, "x" * 100_000, turn_id, None, "big")
    rows.append(events.row_for(big, ledger.blobs, limit=1000))
    with ledger.db.write() as conn:
        events.insert_rows(conn, rows)

    page = (await client.get(f"/sessions/{session.id}")).text
    assert "thread-abc" in page and "gpt-5" in page and f"tether attach {session.id}" in page
    assert "dispatched" in page and "finished" in page  # the turn's phases
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert" in page
    assert 'name="message"' in page and "<textarea" in page
    shown = [int(i) for i in re.findall(r'data-event="(\d+)"', page)]
    assert shown == sorted(shown) and len(shown) < 100  # the newest page, oldest first
    older = re.search(r'data-older="(\d+)"', page)
    assert older is not None
    blob = re.search(r'href="/blobs/([0-9a-f]{64})"', page)
    assert blob is not None

    fragment = (await client.get(f"/sessions/{session.id}/transcript?before={older[1]}")).text
    earlier = [int(i) for i in re.findall(r'data-event="(\d+)"', fragment)]
    assert earlier and max(earlier) < min(shown)
    newer = await client.get(f"/sessions/{session.id}/transcript?after={shown[-2]}")
    assert re.findall(r'data-event="(\d+)"', newer.text) == [str(shown[-1])]

    served = await client.get(f"/blobs/{blob[1]}")
    assert served.text == "x" * 100_000
    assert served.headers["content-type"].startswith("text/plain")
    assert served.headers["x-content-type-options"] == "nosniff"
    download = await client.get(f"/blobs/{blob[1]}?download=1")
    assert download.headers["content-disposition"].startswith("attachment")
    assert (await client.get("/blobs/" + "0" * 64)).status_code == 404
    assert (await client.get("/blobs/..%2Fetc")).status_code in (400, 404)
    hostile_id = await client.get("/sessions/%3Cscript%3E")
    assert hostile_id.status_code == 400 and "<script>" not in hostile_id.text
    assert (await client.get("/sessions/web-999")).status_code == 404


async def test_composer_form_queues_once_and_refuses_foreign_posts(
    client: httpx.AsyncClient, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = tmp_path / "bin"  # send refuses an agent that is not installed; the engine is not run
    tools.mkdir()
    (tools / "codex").write_text("#!/bin/sh\nexit 0\n")
    (tools / "codex").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    _project(ledger, tmp_path / "web")
    session = _session(ledger)
    form = {"message": "add a regression test", "key": "k-1"}
    for _ in range(2):  # a double submit is one turn
        sent = await client.post(f"/sessions/{session.id}/send", data=form, headers=ORIGIN)
        assert sent.status_code == 303 and sent.headers["location"].endswith("#turn-web-1.1")
    with ledger.db.read() as conn:
        assert [t.prompt for t in turns.for_session(conn, session.id)] == [form["message"]]
    foreign = await client.post(
        f"/sessions/{session.id}/send", data=form, headers={"origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    no_origin = await client.post(f"/sessions/{session.id}/send", data=form)
    assert no_origin.status_code == 400 and "Origin" in no_origin.text
    cross_site = await client.post(
        f"/sessions/{session.id}/send",
        data=form,
        headers={**ORIGIN, "sec-fetch-site": "cross-site"},
    )
    assert cross_site.status_code == 403
    empty = await client.post(f"/sessions/{session.id}/send", data={"message": " "}, headers=ORIGIN)
    assert empty.status_code == 400


async def test_cancel_and_adopt_forms(
    client: httpx.AsyncClient, ledger: Ledger, tmp_path: Path
) -> None:
    _project(ledger, tmp_path / "web")
    session = _session(ledger)
    queued = _turn(ledger, session, None)
    done = await client.post(f"/turns/{queued}/cancel", headers=ORIGIN)
    assert done.status_code == 303 and "cancel=cancelled" in done.headers["location"]
    again = await client.get(done.headers["location"])
    assert f"cancel {queued}: cancelled" in again.text
    finished = await client.post(f"/turns/{queued}/cancel", headers=ORIGIN)
    assert "cancel=already_finished" in finished.headers["location"]

    external = _session(ledger, origin=Origin.EXTERNAL, native_id="native-7")
    page = (await client.get(f"/sessions/{external.id}")).text
    assert f'action="/sessions/{external.id}/adopt"' in page
    adopted = await client.post(f"/sessions/{external.id}/adopt", headers=ORIGIN)
    assert adopted.status_code == 303
    with ledger.db.read() as conn:
        assert sessions.get(conn, external.id).origin is Origin.TETHER


def _entry(key: str, native_id: str, model: str, cost: float | None) -> tuple[object, ...]:
    return entry_row(
        {
            "agent": "codex",
            "entry_key": key,
            "native_id": native_id,
            "copied": 0,
            "origin_ts": time.time(),
            "ts": time.time(),
            "day": time.strftime("%Y-%m-%d", time.gmtime()),
            "turn_key": None,
            "model": model,
            "input_tokens": 1200,
            "cached_input_tokens": 0,
            "cache_write_tokens": 0,
            "output_tokens": 300,
            "reasoning_tokens": 0,
            "cost": cost,
        }
    )


async def test_usage_and_search_pages(
    client: httpx.AsyncClient, ledger: Ledger, tmp_path: Path
) -> None:
    _project(ledger, tmp_path / "web")
    session = _session(ledger, native_id="thr-1")
    local = _session(ledger, native_id="thr-2")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    priced = _entry("e1", "thr-1", "gpt-5", 0.25)
    unpriced = _entry("e2", "thr-2", "home-made-model", None)
    with ledger.db.write() as conn:
        history.upsert_entries(conn, [priced, unpriced])
        events.insert_rows(
            conn,
            [
                events.row_for(
                    NewEvent(session.id, EventKind.MESSAGE, "the flaky login test", dedup_key="1"),
                    ledger.blobs,
                )
            ],
        )
    usage = (await client.get("/usage?days=7")).text
    assert "<svg" in usage and today in usage and "gpt-5" in usage and "$0.25" in usage
    assert "1.2k" in usage
    model_row = re.search(r"<td>home-made-model</td>.*?</tr>", usage, re.S)
    assert model_row is not None and "unpriced" in model_row[0] and "$0" not in model_row[0]
    overview_page = (await client.get("/")).text
    assert "$0.25" in overview_page  # the session's cost so far
    local_row = re.search(rf'<tr data-session="{local.id}".*?</tr>', overview_page, re.S)
    assert local_row is not None and "unpriced" in local_row[0] and "$0" not in local_row[0]
    found = (await client.get("/search?q=flaky+login")).text
    assert f'href="/sessions/{session.id}#ev-' in found
    assert "No message matches" in (await client.get("/search?q=nothing+here")).text
    redirect = await client.get("/?q=flaky")
    assert redirect.status_code == 303 and redirect.headers["location"] == "/search?q=flaky"


async def test_assets_are_content_addressed(client: httpx.AsyncClient) -> None:
    page = (await client.get("/")).text
    script = re.search(r'src="(/static/[0-9a-f]{16}/tether\.js)"', page)
    assert script is not None
    served = await client.get(script[1])
    assert served.headers["cache-control"].endswith("immutable")
    assert served.headers["content-type"].startswith("text/javascript")
    stale = await client.get("/static/0000000000000000/tether.js")
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"
    assert (await client.get("/static/0000000000000000/nope.js")).status_code == 404
    assert "script-src 'self'" in (await client.get("/")).headers["content-security-policy"]


async def test_overview_row_shows_branch_reason_and_phase(
    client: httpx.AsyncClient, ledger: Ledger, tmp_path: Path
) -> None:
    from tether.ledger import workspaces

    _project(ledger, tmp_path / "web")
    branched, plain, failed = (_session(ledger) for _ in range(3))
    with ledger.db.write() as conn:
        workspaces.add(
            conn,
            branched.id,
            str(tmp_path),
            str(tmp_path / "wt"),
            f"tether/{branched.id}",
            "main",
            "0" * 40,
        )
    live = _turn(ledger, branched, None)
    with ledger.db.write() as conn:
        turns.transition(conn, live, TurnState.DISPATCHED, dispatched_at=time.time())
        turns.transition(conn, live, TurnState.RUNNING, spawned_at=time.time() - 12)
    _turn(ledger, failed, TurnState.FAILED, "agent exited with status 3")

    page = (await client.get("/")).text
    row = re.search(rf'<tr data-session="{branched.id}".*?</tr>', page, re.S)
    assert row is not None
    assert f"<code>tether/{branched.id}</code>" in row[0]
    assert re.search(r"waiting for the agent&#39;s first event \d+s", row[0])
    plain_row = re.search(rf'<tr data-session="{plain.id}".*?</tr>', page, re.S)
    assert plain_row is not None and "tether/" not in plain_row[0]
    failed_row = re.search(rf'<tr data-session="{failed.id}".*?</tr>', page, re.S)
    assert failed_row is not None and "agent exited with status 3" in failed_row[0]

    fresh = (await client.get(f"/partials/rows?ids={branched.id}")).text
    assert f"<code>tether/{branched.id}</code>" in fresh
