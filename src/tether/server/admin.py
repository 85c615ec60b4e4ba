"""The admin API: people, their tokens, projects and where they run (admins only).

The Guard (security.py) lets only admins through: every method under these
paths, reads included, since who holds access is itself worth guarding. A
token is answered once, at creation, and never stored in clear; its holder
keeps it. Each change is logged with who made it.
"""

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tether.agents.registry import check_agent
from tether.config import Config
from tether.domain import serialize
from tether.domain.team import Role, parse_role
from tether.ledger import people, projects
from tether.ledger.store import Ledger
from tether.server.auth import person_of
from tether.server.body import text_field

log = logging.getLogger("tether.admin")
Read = Callable[[Request], Any]
Write = Callable[[Request, dict[str, Any]], Response]
NO_STORE = {"Cache-Control": "no-store"}


class Admin:
    def __init__(self, config: Config, ledger: Ledger) -> None:
        self.config = config
        self.ledger = ledger

    def users(self, request: Request) -> Any:
        with self.ledger.db.read() as conn:
            return {"items": [serialize.person(p) for p in people.list_users(conn)]}

    def add_user(self, request: Request, body: dict[str, Any]) -> Response:
        name = text_field(body, "name", required=True) or ""
        role = parse_role(text_field(body, "role") or Role.MEMBER.value)
        with self.ledger.db.write() as conn:
            added = people.add_user(conn, name, role)
        _log(request, "user_add", f"{added.name} as {added.role}")
        return JSONResponse(serialize.person(added), status_code=201)

    def set_role(self, request: Request, body: dict[str, Any]) -> Response:
        role = parse_role(text_field(body, "role", required=True) or "")
        with self.ledger.db.write() as conn:
            changed = people.set_role(conn, request.path_params["name"], role)
        _log(request, "user_role", f"{changed.name} to {changed.role}")
        return JSONResponse(serialize.person(changed))

    def tokens(self, request: Request) -> Any:
        with self.ledger.db.read() as conn:
            return {"items": [serialize.token(t) for t in people.list_tokens(conn)]}

    def create_token(self, request: Request, body: dict[str, Any]) -> Response:
        """The secret is in this answer only (not cached): the ledger keeps its hash."""
        user = text_field(body, "user", required=True) or ""
        label = text_field(body, "label")
        with self.ledger.db.write() as conn:
            token_id, secret = people.create_token(conn, user, label)
        _log(request, "token_create", f"token {token_id} for {user}")
        answer = {"id": token_id, "user": user, "label": label, "token": secret}
        return JSONResponse(answer, status_code=201, headers=NO_STORE)

    def revoke_token(self, request: Request, body: dict[str, Any]) -> Response:
        with self.ledger.db.write() as conn:
            revoked = people.revoke(conn, request.path_params["token_id"])
        _log(request, "token_revoke", f"token {revoked.id} of {revoked.user}")
        return JSONResponse(serialize.token(revoked))

    def add_project(self, request: Request, body: dict[str, Any]) -> Response:
        """A checkout on this daemon's host, or on another host of the ledger (``host``)."""
        path = Path(text_field(body, "path", required=True) or "")
        agent = text_field(body, "agent")
        if agent is not None:
            check_agent(self.config, agent)
        with self.ledger.db.write() as conn:
            added = projects.add_checkout(
                conn,
                path,
                self.config.host_name,
                text_field(body, "host"),
                text_field(body, "name"),
                text_field(body, "prefix"),
                agent,
            )
        _log(request, "project_add", f"{added.name} at {added.path} on {added.host}")
        return JSONResponse(serialize.project(added), status_code=201)

    def set_project_host(self, request: Request, body: dict[str, Any]) -> Response:
        """Turns not yet claimed run on the new host; a live one ends where it runs."""
        host = text_field(body, "host", required=True) or ""
        with self.ledger.db.write() as conn:
            moved = projects.set_host(conn, request.path_params["name"], host)
        _log(request, "project_host", f"{moved.name} to {moved.host}")
        return JSONResponse(serialize.project(moved))


def _log(request: Request, action: str, what: str) -> None:
    log.info("%s by %s", what, person_of(request.scope).name, extra={"action": action})


def routes(
    admin: Admin,
    read: Callable[[Read], Callable[[Request], Awaitable[Response]]],
    write: Callable[[Write], Callable[[Request], Awaitable[Response]]],
) -> list[Route]:
    """``read`` and ``write`` wrap handlers as the rest of the API does (errors as JSON)."""
    return [
        Route("/api/users", read(admin.users), methods=["GET"]),
        Route("/api/users", write(admin.add_user), methods=["POST"]),
        Route("/api/users/{name}/role", write(admin.set_role), methods=["POST"]),
        Route("/api/tokens", read(admin.tokens), methods=["GET"]),
        Route("/api/tokens", write(admin.create_token), methods=["POST"]),
        Route("/api/tokens/{token_id:int}/revoke", write(admin.revoke_token), methods=["POST"]),
        Route("/api/projects", write(admin.add_project), methods=["POST"]),
        Route("/api/projects/{name}/host", write(admin.set_project_host), methods=["POST"]),
    ]
