"""A scripted attack on the HTTP surface, through httpx's ASGI transport and a real ledger.

Each request is one a hostile page, script or local process can send; each
must be refused with a 4xx that says why, never a 500, and must create
nothing. (The streamed 200 MB body and idle connections need a real socket:
tests/acceptance/test_attacks_daemon.py.)
"""

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from tests.support import stub_agents

from tether.agents.provider import TurnRequest
from tether.agents.registry import BUILTIN_AGENTS, provider_for
from tether.config import Config, load
from tether.engine.supervisor import Engine
from tether.ledger import projects, sessions, turns
from tether.ledger.store import Ledger, open_ledger
from tether.server.app import create_app

pytestmark = pytest.mark.anyio
BASE = "http://127.0.0.1:7700"
SPAWN = {"prompt": "hello", "project": "web"}
NATIVE_IDS = {"opencode": "ses_3a1b2c", "goose": "20251130_1"}


@pytest.fixture(autouse=True)
def _agents_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stub_agents(tmp_path / "agent-stubs", monkeypatch)


@pytest.fixture
def sqlite_config(home: Path) -> Config:
    return load()


@pytest.fixture
def ledger(sqlite_config: Config, tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(sqlite_config)
    with opened.db.write() as conn:
        web = projects.add(conn, tmp_path, name="web")
        session = sessions.create(conn, web, "codex", str(tmp_path), title="<script>t()</script>")
        turns.add(conn, session, "<img src=x onerror=p()>")
    yield opened
    opened.close()


def _client(config: Config, ledger: Ledger) -> httpx.AsyncClient:
    app = create_app(config, ledger, Engine(config, ledger))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


@pytest.fixture
async def client(sqlite_config: Config, ledger: Ledger) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(sqlite_config, ledger) as c:
        yield c


def _session_count(ledger: Ledger) -> int:
    with ledger.db.read() as conn:
        return len(sessions.list_page(conn, limit=500).items)


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:1",  # any other page served on the developer's machine
        "http://127.0.0.1:7701",
        "https://127.0.0.1:7700",  # another scheme is another origin
        "http://127.0.0.1",  # port 80
        "http://evil.example:7700",
        "http://127.0.0.1.evil.example:7700",
        "null",  # sandboxed iframes and file:// pages
        "http://[::1]:8000",
        "http://127.0.0.1:notaport",
    ],
)
async def test_writes_from_another_origin_are_refused(
    client: httpx.AsyncClient, ledger: Ledger, origin: str
) -> None:
    before = _session_count(ledger)
    response = await client.post("/api/sessions", json=SPAWN, headers={"origin": origin})
    assert response.status_code == 403, response.text
    assert "cross-origin" in response.json()["error"]
    assert _session_count(ledger) == before


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("http://127.0.0.1:7700", "127.0.0.1:7700"),
        ("http://localhost:7700", "localhost:7700"),
        ("http://localhost:8080", "localhost:8080"),  # a forwarded port (docker -p 8080:7700)
    ],
)
async def test_writes_from_the_servers_own_origin_pass(
    client: httpx.AsyncClient, ledger: Ledger, origin: str, host: str
) -> None:
    response = await client.post(
        "/api/sessions", json=SPAWN, headers={"origin": origin, "host": host}
    )
    assert response.status_code == 201, response.text


async def test_another_port_is_refused_whatever_host_says(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/sessions", json=SPAWN, headers={"origin": "http://localhost:1", "host": "localhost"}
    )
    assert response.status_code == 403


async def test_cross_site_fetch_metadata_refuses_writes_without_origin(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    for site in ("cross-site", "same-site"):
        response = await client.post("/api/sessions", json=SPAWN, headers={"sec-fetch-site": site})
        assert response.status_code == 403
    assert (await client.get("/api/sessions", headers={"sec-fetch-site": "none"})).is_success
    assert _session_count(ledger) == 1


@pytest.mark.parametrize(
    "host", ["evil.example:7700", "127.0.0.1.evil.example", "evil.example", "localhost.evil:7700"]
)
async def test_host_header_must_name_this_server(client: httpx.AsyncClient, host: str) -> None:
    response = await client.get("/api/sessions", headers={"host": host})
    assert response.status_code == 421


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""],
)
async def test_csrf_content_types_are_refused(
    client: httpx.AsyncClient, ledger: Ledger, content_type: str
) -> None:
    response = await client.post(
        "/api/sessions",
        content=b'{"prompt": "hello", "project": "web"}',
        headers={"content-type": content_type},
    )
    assert response.status_code == 400
    assert "Content-Type: application/json" in response.json()["error"]
    assert _session_count(ledger) == 1


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"[" * 200_000, "nested too deeply"),
        (b'{"prompt": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"}", "nested too deeply"),
        (b"{" * 50_000, "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b'{"prompt": 5, "project": "web"}', "'prompt' must be a string"),
        (b'{"prompt": "hi", "project": ["web"]}', "'project' must be a string"),
        (b'{"prompt": "hi", "project": "../etc"}', "project name"),
    ],
)
async def test_hostile_json_answers_400_never_500(
    client: httpx.AsyncClient, ledger: Ledger, body: bytes, needle: str
) -> None:
    response = await client.post(
        "/api/sessions", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert needle in response.json()["error"]
    assert _session_count(ledger) == 1


async def test_declared_length_over_the_cap_is_refused_before_reading(
    sqlite_config: Config, ledger: Ledger
) -> None:
    small = replace(sqlite_config, server=replace(sqlite_config.server, max_body_bytes=1000))
    read: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        read.append(1)
        yield b"x" * 2000

    async with _client(small, ledger) as c:
        declared = await c.post(
            "/api/sessions",
            content=body(),
            headers={"content-type": "application/json", "content-length": "2000"},
        )
        assert declared.status_code == 413 and "1000 bytes" in declared.json()["error"]
        assert declared.headers["connection"] == "close"
        bogus = await c.post("/api/sessions", content=b"{}", headers={"content-length": "12abc"})
        assert bogus.status_code == 400 and "Content-Length" in bogus.json()["error"]


async def test_streamed_body_over_the_cap_is_refused(sqlite_config: Config, ledger: Ledger) -> None:
    small = replace(sqlite_config, server=replace(sqlite_config.server, max_body_bytes=1000))
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"prompt": "'
        for _ in range(100):
            sent.append(300)
            yield b"a" * 300
        yield b'", "project": "web"}'

    async with _client(small, ledger) as c:
        response = await c.post(
            "/api/sessions", content=chunks(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413, response.text
        fitting = await c.post("/api/sessions", json={"prompt": "a" * 900, "project": "web"})
        assert fitting.status_code == 201
    assert _session_count(ledger) == 2


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/sessions/..%2Fetc/messages", 404),
        ("/api/sessions/..etc/messages", 400),
        ("/api/sessions/web-0/messages", 400),
        ("/api/sessions/web-99/messages", 404),
        ("/api/sessions/" + "w" * 300 + "/messages", 400),
        ("/api/turns/web-1.1;rm -rf ~/cancel", 400),
        ("/api/turns/web-1.99/cancel", 404),
        ("/api/turns/%00/finish", 400),
        ("/api/sessions/web-1/attach", 400),
    ],
)
async def test_hostile_ids_in_writes(client: httpx.AsyncClient, path: str, status: int) -> None:
    response = await client.post(path, json={"message": "hi", "exit_code": 0})
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer.get("error") or answer.get("outcome") == "not_found"


async def test_index_escapes_what_agents_and_users_wrote(client: httpx.AsyncClient) -> None:
    page = (await client.get("/")).text
    assert "<script>t()</script>" not in page and "&lt;script&gt;t()&lt;/script&gt;" in page
    assert "<img src=x" not in page


@pytest.mark.parametrize("agent", BUILTIN_AGENTS)
def test_a_prompt_never_becomes_an_option_or_a_shell_word(
    sqlite_config: Config, agent: str, tmp_path: Path
) -> None:
    prompt = "--yolo --dangerously-skip-permissions $(touch pwned) `id`; rm -rf ~"
    provider = provider_for(sqlite_config, agent)
    launches = [provider.new_turn(TurnRequest("web-1", prompt, tmp_path))]
    if provider.resumable:
        native = NATIVE_IDS.get(agent, "0199a213-81c0-7800-8aa1-bbab2a035a53")
        launches.append(
            provider.resume_turn(TurnRequest("web-1", prompt, tmp_path, native_id=native))
        )
    for launch in launches:
        assert all(isinstance(word, str) for word in launch.argv)
        assert "--yolo" not in launch.argv and "--dangerously-skip-permissions" not in launch.argv
        assert "rm" not in launch.argv and "$(touch" not in launch.argv
