"""The HTTP API through httpx's ASGI transport: no sockets, a real ledger."""

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from tests.support import entry_row

from tether.config import Config, ServerSettings
from tether.domain.records import EventKind
from tether.engine.supervisor import Engine
from tether.ledger import events, history, projects, sessions, turns
from tether.ledger.events import NewEvent
from tether.ledger.store import Ledger
from tether.server.app import create_app

pytestmark = pytest.mark.anyio


def _client(config: Config, ledger: Ledger, **headers: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(config, ledger, Engine(config, ledger)))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:7700", headers=headers)


@pytest.fixture
async def client(
    config: Config, ledger: Ledger, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    with ledger.db.write() as conn:
        web = projects.add(conn, tmp_path, name="web")
        for agent in ("codex", "claude", "goose"):
            session = sessions.create(conn, web, agent, str(tmp_path), title=f"{agent} work")
        turns.add(conn, session, "hello")
    rows = [
        events.row_for(
            NewEvent("web-3", EventKind.MESSAGE, f"e{i}", dedup_key=str(i)), ledger.blobs
        )
        for i in range(30)
    ]
    with ledger.db.write() as conn:
        events.insert_rows(conn, rows)
    async with _client(config, ledger) as c:
        yield c


async def test_health_and_projects(client: httpx.AsyncClient) -> None:
    health = (await client.get("/api/health")).json()
    assert health["status"] == "ok" and health["database"] in ("sqlite", "postgresql")
    assert [p["name"] for p in (await client.get("/api/projects")).json()["items"]] == ["web"]


async def test_sessions_filters_and_cursor(client: httpx.AsyncClient) -> None:
    page = (await client.get("/api/sessions", params={"limit": 2})).json()
    assert [s["id"] for s in page["items"]] == ["web-3", "web-2"]
    rest = (await client.get("/api/sessions", params={"before": page["next_cursor"]})).json()
    assert [s["id"] for s in rest["items"]] == ["web-1"] and rest["next_cursor"] is None
    goose = (await client.get("/api/sessions", params={"agent": "goose"})).json()["items"]
    assert [s["id"] for s in goose] == ["web-3"]
    queued = (await client.get("/api/sessions", params={"state": "queued"})).json()["items"]
    assert [s["id"] for s in queued] == ["web-3"]
    other = (await client.get("/api/sessions", params={"project": "api"})).json()["items"]
    assert other == []


async def test_session_detail_and_events(client: httpx.AsyncClient) -> None:
    detail = (await client.get("/api/sessions/web-3")).json()
    assert detail["agent"] == "goose" and detail["turns"][0]["id"] == "web-3.1"
    first = (await client.get("/api/sessions/web-3/events", params={"limit": 20})).json()
    assert [e["preview"] for e in first["items"][:2]] == ["e29", "e28"]
    second = (
        await client.get("/api/sessions/web-3/events", params={"before": first["next_cursor"]})
    ).json()
    assert len(second["items"]) == 10 and second["next_cursor"] is None


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        ("/api/sessions/web-99", 404, "no session web-99"),
        ("/api/sessions/..%2Fetc", 404, "no such path"),
        ("/api/sessions/..etc", 400, "not a session id"),
        ("/api/nothing", 404, "no such path"),
        ("/api/sessions/" + "a" * 100, 400, "limit is 64"),
        ("/api/sessions/web-0/events", 400, "not a session id"),
        ("/api/sessions/web-99/events", 404, "no session"),
        ("/api/sessions?state=bogus", 400, "state must be one of"),
        ("/api/sessions?limit=-1", 400, "limit"),
        ("/api/sessions?limit=100000", 400, "limit"),
        ("/api/sessions?before=x1", 400, "cursor"),
        ("/api/usage?by=bogus", 400, "grouped by one of"),
        ("/api/usage?since=yesterday", 400, "not a day like"),
    ],
)
async def test_bad_requests(client: httpx.AsyncClient, path: str, status: int, needle: str) -> None:
    response = await client.get(path)
    assert response.status_code == status
    assert needle in response.json()["error"]


async def test_index_page_lists_sessions(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "web-3" in response.text and "goose work" in response.text


async def test_host_and_origin_checks(client: httpx.AsyncClient) -> None:
    rebinding = await client.get("/api/sessions", headers={"host": "evil.example:7700"})
    assert rebinding.status_code == 421
    cross = await client.get("/api/sessions", headers={"origin": "https://evil.example"})
    assert cross.status_code == 403
    same = await client.get("/api/sessions", headers={"origin": "http://localhost:7700"})
    assert same.status_code == 200


async def test_token_required_when_configured(config: Config, ledger: Ledger) -> None:
    guarded = replace(config, server=ServerSettings(host="127.0.0.1", token="s3cret"))
    async with _client(guarded, ledger) as c:
        assert (await c.get("/api/sessions")).status_code == 401
        assert (await c.get("/api/health")).status_code == 200
        wrong = await c.get("/api/sessions", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = await c.get("/api/sessions", headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        cookie = await c.get("/api/sessions", headers={"cookie": "tether_token=s3cret"})
        assert cookie.status_code == 200


async def test_index_page_shows_how_the_last_turn_ended(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    from tether.domain.states import TurnState

    with ledger.db.write() as conn:
        turns.transition(conn, "web-3.1", TurnState.FAILED, reason="agent exited with status 3")
    page = (await client.get("/")).text
    needs_you = page[page.index('id="needs-you"') : page.index("</table>")]
    assert "web-3.1" in needs_you and "state-failed" in needs_you
    assert "agent exited with status 3" in needs_you


def _entry(key: str, model: str, cost: float | None) -> tuple[object, ...]:
    return entry_row(
        {
            "agent": "codex",
            "entry_key": key,
            "native_id": "thread-1",
            "copied": 0,
            "origin_ts": 1767225600.0,
            "ts": 1767225600.0,
            "day": "2026-01-01",
            "turn_key": None,
            "model": model,
            "input_tokens": 100,
            "cached_input_tokens": 20,
            "cache_write_tokens": 0,
            "output_tokens": 10,
            "reasoning_tokens": 0,
            "cost": cost,
        }
    )


async def test_usage_reports_cost_and_unpriced_tokens(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    with ledger.db.write() as conn:
        history.upsert_entries(
            conn,
            [_entry("a", "gpt-5.1", 0.25), _entry("b", "gpt-5.1", 0.5), _entry("c", "mock", None)],
        )
    by_model = (await client.get("/api/usage", params={"by": "model"})).json()
    rows = {row["key"]: row for row in by_model["rows"]}
    assert rows["gpt-5.1"]["cost"] == 0.75 and rows["gpt-5.1"]["unpriced_tokens"] == 0
    assert rows["mock"]["cost"] is None and rows["mock"]["unpriced_tokens"] == 130
    assert by_model["totals"]["cost"] == 0.75 and by_model["totals"]["unpriced_tokens"] == 130
    assert by_model["unpriced_models"] == [{"model": "mock", "tokens": 130, "entries": 1}]
    daily = (await client.get("/api/usage", params={"since": "2026-01-01"})).json()
    assert daily["by"] == "daily" and daily["rows"][0]["key"] == "2026-01-01"
    assert daily["rows"][0]["cost"] == 0.75 and daily["rows"][0]["unpriced_tokens"] == 130
    later = (await client.get("/api/usage", params={"since": "2026-01-02"})).json()
    assert later["rows"] == [] and later["totals"]["cost"] is None
