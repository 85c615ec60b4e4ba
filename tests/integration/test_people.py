"""People, tokens and roles at the API, on both backends, through httpx's ASGI transport."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from tests.support import stub_agents

from tether.config import Config
from tether.domain.team import Role
from tether.engine.supervisor import Engine
from tether.ledger import people, projects, turns
from tether.ledger.store import Ledger
from tether.server.app import create_app
from tether.server.auth import owner

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _agents_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stub_agents(tmp_path / "agent-stubs", monkeypatch)


def _client(
    config: Config, ledger: Ledger, bind_host: str, token: str | None = None
) -> httpx.AsyncClient:
    app = create_app(config, ledger, Engine(config, ledger), bind_host=bind_host)
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:7700", headers=headers
    )


@pytest.fixture
def tokens(ledger: Ledger, tmp_path: Path) -> dict[str, str]:
    with ledger.db.write() as conn:
        projects.add(conn, tmp_path, name="web", default_agent="codex")
        made = {}
        for name, role in (("vera", Role.VIEWER), ("mia", Role.MEMBER), ("ada", Role.ADMIN)):
            people.add_user(conn, name, role)
            made[name] = people.create_token(conn, name, "test")[1]
    return made


@pytest.fixture
async def open_api(config: Config, ledger: Ledger) -> AsyncIterator[httpx.AsyncClient]:
    """A daemon bound off loopback: every request needs a token."""
    async with _client(config, ledger, "0.0.0.0") as client:
        yield client


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_loopback_is_the_owner_and_records_them(
    config: Config, ledger: Ledger, tokens: dict[str, str]
) -> None:
    async with _client(config, ledger, "127.0.0.1") as client:
        me = (await client.get("/api/me")).json()
        assert me == {"name": owner().name, "role": "admin"}
        made = await client.post("/api/sessions", json={"prompt": "hi", "project": "web"})
        assert made.status_code == 201 and made.json()["turn"]["accepted_by"] == owner().name
        # a person's token on loopback still names them
        mine = await client.get("/api/me", headers=_auth(tokens["mia"]))
        assert mine.json() == {"name": "mia", "role": "member"}
        wrong = await client.get("/api/me", headers=_auth("tether_nope"))
        assert wrong.status_code == 401


async def test_off_loopback_roles(open_api: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    assert (await open_api.get("/api/sessions")).status_code == 401
    assert (await open_api.get("/api/health")).status_code == 200
    viewer = _auth(tokens["vera"])
    assert (await open_api.get("/api/sessions", headers=viewer)).status_code == 200
    refused = await open_api.post(
        "/api/sessions", json={"prompt": "hi", "project": "web"}, headers=viewer
    )
    assert refused.status_code == 403 and "vera is a viewer" in refused.json()["error"]
    member = _auth(tokens["mia"])
    made = await open_api.post(
        "/api/sessions", json={"prompt": "hi", "project": "web"}, headers=member
    )
    assert made.status_code == 201 and made.json()["turn"]["accepted_by"] == "mia"
    session_id = made.json()["session"]["id"]
    detail = (await open_api.get(f"/api/sessions/{session_id}", headers=viewer)).json()
    assert detail["turns"][0]["accepted_by"] == "mia"
    admin_only = await open_api.post("/api/users", json={}, headers=member)
    assert admin_only.status_code == 403


async def test_cancel_records_who_asked(
    open_api: httpx.AsyncClient, tokens: dict[str, str], ledger: Ledger
) -> None:
    made = await open_api.post(
        "/api/sessions", json={"prompt": "hi", "project": "web"}, headers=_auth(tokens["mia"])
    )
    turn_id = made.json()["turn"]["id"]
    done = await open_api.post(
        f"/api/turns/{turn_id}/cancel", json={}, headers=_auth(tokens["ada"])
    )
    assert done.json()["outcome"] == "cancelled"
    with ledger.db.read() as conn:
        turn = turns.get(conn, turn_id)
    assert (turn.state.value, turn.accepted_by, turn.cancelled_by) == ("cancelled", "mia", "ada")
    again = await open_api.post(
        f"/api/turns/{turn_id}/cancel", json={}, headers=_auth(tokens["mia"])
    )
    assert again.json()["outcome"] == "already_finished"
    with ledger.db.read() as conn:
        assert turns.get(conn, turn_id).cancelled_by == "ada"  # a finished turn is left alone


async def test_revoked_token_is_refused_at_once(
    open_api: httpx.AsyncClient, tokens: dict[str, str], ledger: Ledger
) -> None:
    member = _auth(tokens["mia"])
    assert (await open_api.get("/api/me", headers=member)).status_code == 200
    with ledger.db.write() as conn:
        token_id = next(t.id for t in people.list_tokens(conn) if t.user == "mia")
        people.revoke(conn, token_id)
    refused = await open_api.get("/api/me", headers=member)
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]


async def test_dashboard_signs_in_with_a_cookie(
    open_api: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    page = await open_api.get("/")
    assert page.status_code == 303 and page.headers["location"] == "/signin"
    assert "Sign in" in (await open_api.get("/signin")).text
    bad = await open_api.post("/api/signin", json={"token": "tether_wrong"})
    assert bad.status_code == 401 and "set-cookie" not in bad.headers
    good = await open_api.post("/api/signin", json={"token": tokens["vera"]})
    cookie = good.headers["set-cookie"]
    assert good.json() == {"name": "vera", "role": "viewer"}
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "tether_token=" in cookie
    page = await open_api.get("/")  # the client now sends the cookie
    assert page.status_code == 200 and "by mia" not in page.text
    made = await open_api.post(
        "/api/sessions", json={"prompt": "hi", "project": "web"}, headers=_auth(tokens["mia"])
    )
    assert made.status_code == 201
    assert "by mia" in (await open_api.get("/")).text
    assert (await open_api.get("/api/me")).json()["name"] == "vera"
    sent = await open_api.post("/api/sessions", json={"prompt": "hi", "project": "web"})
    assert sent.status_code == 403
    out = await open_api.post("/api/signout", json={})
    assert out.status_code == 200
    assert (await open_api.get("/api/me")).status_code == 401


async def test_cross_site_signin_is_refused(
    open_api: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    forged = await open_api.post(
        "/api/signin", json={"token": tokens["ada"]}, headers={"origin": "https://evil.example"}
    )
    assert forged.status_code == 403 and "set-cookie" not in forged.headers


async def test_configured_token_is_the_owner(
    config: Config, ledger: Ledger, tokens: dict[str, str]
) -> None:
    from dataclasses import replace

    configured = replace(config, server=replace(config.server, token="s3cret-owner-token"))
    async with _client(configured, ledger, "127.0.0.1") as client:
        assert (await client.get("/api/me")).status_code == 401  # a token is now required
        me = await client.get("/api/me", headers=_auth("s3cret-owner-token"))
        assert me.json() == {"name": owner().name, "role": "admin"}
        mia = await client.get("/api/me", headers=_auth(tokens["mia"]))
        assert mia.json()["name"] == "mia"
