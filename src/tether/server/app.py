"""The ASGI application: thin handlers over the ledger (invariant 4: reads never probe)."""

import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import msgspec
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from tether import __version__
from tether.config import Config
from tether.domain import serialize
from tether.domain.ids import parse_session_id, parse_turn_id
from tether.domain.states import SessionState
from tether.engine import accept, audit, rotation
from tether.engine.cancel import CancelOutcome
from tether.engine.supervisor import Engine
from tether.errors import Conflict, InvalidInput, NotFound, TetherError
from tether.ledger import (
    diffs,
    history,
    hosts,
    projects,
    sessions,
    threads,
    turns,
    usage,
    workspaces,
)
from tether.ledger.db import Database
from tether.ledger.store import Ledger
from tether.server import admin, pages, reads
from tether.server.assets import Assets
from tether.server.auth import COOKIE, People, person_of
from tether.server.body import read_object, text_field
from tether.server.bus import CommitBus, buses_for
from tether.server.coalesce import Coalesce
from tether.server.encoded import EncodedEvents
from tether.server.feed import Feed
from tether.server.security import Guard, is_loopback
from tether.server.stream import Stream
from tether.workspaces import cleanup, landing, view

TEMPLATES = Path(__file__).parent.parent / "web" / "templates"
SIGNIN_MAX_AGE_S = 30 * 24 * 3600
_JSON = msgspec.json.Encoder()
_STATUS: dict[type[TetherError], int] = {InvalidInput: 400, NotFound: 404, Conflict: 409}
AsyncHandler = Callable[[Request], Awaitable[Response]]


def _status_for(exc: TetherError) -> int:
    for cls, status in _STATUS.items():
        if isinstance(exc, cls):
            return status
    return 500


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise InvalidInput(f"query parameter {name} must be a positive integer, not {raw[:40]!r}")
    return int(raw)


def _state_param(request: Request) -> SessionState | None:
    raw = request.query_params.get("state")
    if raw is None:
        return None
    try:
        return SessionState(raw)
    except ValueError as exc:
        choices = ", ".join(s.value for s in SessionState)
        raise InvalidInput(f"state must be one of {choices}, not {raw[:40]!r}") from exc


def _accepted(accepted: accept.Accepted) -> dict[str, Any]:
    return {
        "session": serialize.session(accepted.session),
        "turn": serialize.turn(accepted.turn),
        "created": accepted.created,
    }


class Api:
    def __init__(self, config: Config, ledger: Ledger, engine: Engine, people: People) -> None:
        self.config = config
        self.ledger = ledger
        self.engine = engine
        self.people = people
        self.pages = Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"])
        )
        self.event_json = EncodedEvents(lambda e: _compact(serialize.event(e)))

    def audit(self, request: Request) -> Any:
        """What the daemon's periodic checks found (``?fresh=1`` is not offered: reads
        never probe)."""
        with self.ledger.db.read() as conn:
            return audit.stored(conn)

    def health(self, request: Request) -> Any:
        backend = "sqlite" if self.ledger.db.is_sqlite else "postgresql"
        return {"status": "ok", "version": __version__, "database": backend}

    def project_list(self, request: Request) -> Any:
        with self.ledger.db.read() as conn:
            return {"items": [serialize.project(p) for p in projects.list_all(conn)]}

    def session_page(self, request: Request) -> Any:
        q = request.query_params
        with self.ledger.db.read() as conn:
            page = sessions.list_page(
                conn,
                project=q.get("project"),
                state=_state_param(request),
                agent=q.get("agent"),
                before=q.get("before"),
                limit=_int_param(request, "limit", 50),
            )
            current = threads.current_of(conn, [s.id for s in page.items])
        return {
            "items": [serialize.session_item(s, current.get(s.id)) for s in page.items],
            "next_cursor": page.next_cursor,
        }

    def session_detail(self, request: Request) -> Any:
        session_id = str(parse_session_id(request.path_params["session_id"]))
        with self.ledger.db.read() as conn:
            session = sessions.get(conn, session_id)
            session_turns = turns.for_session(conn, session_id)
            ws = workspaces.find(conn, session_id)
            whole = diffs.latest_session(conn, session_id) if ws else None
            session_threads = threads.for_session(conn, session_id)
        return {
            **serialize.session(session),
            "turns": [serialize.turn(t) for t in session_turns],
            "worktree": serialize.workspace(ws) if ws else None,
            "diff": serialize.diff_summary(whole) if whole else None,
            "threads": [serialize.thread(t) for t in session_threads],
        }

    def event_page(self, request: Request) -> Any:
        """Each event's JSON is kept once encoded (server/encoded.py); the page is joined.
        The session is looked up only when the page is empty (its events prove it exists)."""
        session_id = str(parse_session_id(request.path_params["session_id"]))
        with self.ledger.db.read() as conn:
            page = self.event_json.page(
                conn,
                session_id,
                request.query_params.get("before"),
                _int_param(request, "limit", 100),
            )
            if not page.items:
                sessions.get(conn, session_id)
        items = ",".join(e.text for e in page.items)
        body = f'{{"items":[{items}],"next_cursor":{_compact(page.next_cursor)}}}'
        return Response(body, media_type="application/json")

    def usage(self, request: Request) -> Any:
        """Usage report rows (see ``tether usage``), their totals and the unpriced models."""
        by = request.query_params.get("by", "daily")
        with self.ledger.db.read() as conn:
            rows = history.usage_report(conn, by, request.query_params.get("since"))
            unpriced = history.unpriced_models(conn)
        return {
            "by": by,
            "rows": rows,
            "totals": usage.totals(rows),
            "unpriced_models": unpriced,
        }

    def diff(self, request: Request) -> Any:
        turn = request.query_params.get("turn")
        return view.diff_page(
            self.ledger,
            request.path_params["session_id"],
            turn=None if turn is None else _int_param(request, "turn", 0),
            offset=_int_param(request, "offset", 0),
            limit=_int_param(request, "limit", view.DEFAULT_FILES),
            patches=request.query_params.get("patches", "1") != "0",
        )

    def merge(self, request: Request, body: dict[str, Any]) -> Response:
        squash = _flag(body, "squash") or False
        session_id = str(parse_session_id(request.path_params["session_id"]))
        with self.engine.workspaces.exclusive(session_id):
            landed = landing.merge(
                self.config, self.ledger, session_id, squash, text_field(body, "into")
            )
        return JSONResponse(asdict(landed))

    def pull_request(self, request: Request, body: dict[str, Any]) -> Response:
        draft = _flag(body, "draft") or False
        session_id = str(parse_session_id(request.path_params["session_id"]))
        with self.engine.workspaces.exclusive(session_id):
            landed = landing.pull_request(self.config, self.ledger, session_id, draft)
        return JSONResponse(asdict(landed))

    def archive(self, request: Request, body: dict[str, Any]) -> Response:
        force, delete_branch = _flag(body, "force") or False, _flag(body, "delete_branch") or False
        session_id = str(parse_session_id(request.path_params["session_id"]))
        with self.engine.workspaces.exclusive(session_id):
            done = cleanup.archive(self.config, self.ledger, session_id, force, delete_branch)
        return JSONResponse(asdict(done))

    def gc(self, request: Request, body: dict[str, Any]) -> Response:
        collected = cleanup.gc(self.config, self.ledger, self.engine.workspaces.exclusive)
        return JSONResponse({**asdict(collected), "bytes_freed": collected.bytes_freed})

    def turn_detail(self, request: Request) -> Any:
        turn_id = str(parse_turn_id(request.path_params["turn_id"]))
        with self.ledger.db.read() as conn:
            return serialize.turn(turns.get(conn, turn_id))

    def create_session(self, request: Request, body: dict[str, Any]) -> Response:
        cwd = text_field(body, "cwd")
        accepted = accept.spawn(
            self.config,
            self.ledger,
            prompt=text_field(body, "prompt", required=True) or "",
            project=text_field(body, "project"),
            cwd=Path(cwd) if cwd else None,
            agent=text_field(body, "agent"),
            model=text_field(body, "model"),
            by=person_of(request.scope).name,
            key=text_field(body, "key"),
            worktree=_flag(body, "worktree"),
            base=text_field(body, "base"),
            path_env=text_field(body, "path"),
        )
        self.engine.poke()
        return JSONResponse(_accepted(accepted), status_code=201 if accepted.created else 200)

    def send_message(self, request: Request, body: dict[str, Any]) -> Response:
        accepted = accept.send(
            self.config,
            self.ledger,
            request.path_params["session_id"],
            text_field(body, "message", required=True) or "",
            key=text_field(body, "key"),
            by=person_of(request.scope).name,
            path_env=text_field(body, "path"),
        )
        self.engine.poke()
        return JSONResponse(_accepted(accepted), status_code=201 if accepted.created else 200)

    def rotate(self, request: Request, body: dict[str, Any]) -> Response:
        session_id = str(parse_session_id(request.path_params["session_id"]))
        with self.ledger.db.write() as conn:
            thread = rotation.request(conn, session_id)
        return JSONResponse(serialize.thread(thread))

    def cancel_turn(self, request: Request, body: dict[str, Any]) -> Response:
        turn_id = str(parse_turn_id(request.path_params["turn_id"]))
        with self.ledger.db.write() as conn:
            turns.record_cancel_request(conn, turn_id, person_of(request.scope).name)
        result = self.engine.cancel(turn_id)
        status = 404 if result.outcome is CancelOutcome.NOT_FOUND else 200
        return JSONResponse(result.as_dict(), status_code=status)

    def attach(self, request: Request, body: dict[str, Any]) -> Response:
        pid, ticks = body.get("pid"), body.get("ticks")
        if not isinstance(pid, int) or not (ticks is None or isinstance(ticks, int)):
            raise InvalidInput("attach needs the attaching process: {'pid': int, 'ticks': int}")
        turn, launch = self.engine.attach(request.path_params["session_id"], pid, ticks)
        plan = {"argv": list(launch.argv), "cwd": str(launch.cwd), "env": dict(launch.env)}
        return JSONResponse({"turn": serialize.turn(turn), "launch": plan}, status_code=201)

    def finish_attached(self, request: Request, body: dict[str, Any]) -> Response:
        code = body.get("exit_code")
        if not isinstance(code, int):
            raise InvalidInput("field 'exit_code' must be an integer")
        turn = self.engine.finish_attached(request.path_params["turn_id"], code)
        return JSONResponse(serialize.turn(turn))

    def host_list(self, request: Request) -> Any:
        with self.ledger.db.read() as conn:
            found = hosts.list_all(conn)
        timeout = self.config.team.host_timeout_s
        return {"items": [serialize.host(h, time.time(), timeout) for h in found]}

    def me(self, request: Request) -> Any:
        person = person_of(request.scope)
        return {"name": person.name, "role": person.role.value}

    def signin_page(self, request: Request) -> Response:
        return HTMLResponse(self.pages.get_template("signin.html").render(version=__version__))

    def sign_in(self, request: Request, body: dict[str, Any]) -> Response:
        """Trade a token for an HttpOnly cookie, so the dashboard never holds it in script."""
        token = text_field(body, "token", required=True) or ""
        person = self.people.identify(token) if token else None
        if person is None:
            return JSONResponse({"error": "unknown or revoked token"}, status_code=401)
        response = JSONResponse({"name": person.name, "role": person.role.value})
        response.set_cookie(
            COOKIE,
            token,
            max_age=SIGNIN_MAX_AGE_S,
            httponly=True,
            samesite="strict",
            secure=bool(self.config.server.tls_cert) or request.url.scheme == "https",
        )
        return response

    def sign_out(self, request: Request, body: dict[str, Any]) -> Response:
        response = JSONResponse({"signed_out": True})
        response.delete_cookie(COOKIE, httponly=True, samesite="strict")
        return response


def _compact(value: Any) -> str:
    """Compact JSON, as JSONResponse writes it but for a float that is not a number (null
    here); msgspec encodes an event page's missing events in 70% of the time json took."""
    return _JSON.encode(value).decode()


def _error(exc: TetherError) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=_status_for(exc))


def _reads(db: Database) -> Callable[[Callable[[Request], Any]], AsyncHandler]:
    """Wraps a GET handler: its read runs where ``reads.read`` says; a TetherError or its
    result becomes JSON."""

    def wrap(handler: Callable[[Request], Any]) -> AsyncHandler:
        async def endpoint(request: Request) -> Response:
            try:
                result = await reads.read(db, handler, request)
            except TetherError as exc:
                return _error(exc)
            return result if isinstance(result, Response) else JSONResponse(result)

        return endpoint

    return wrap


def _post(handler: Callable[[Request, dict[str, Any]], Response]) -> AsyncHandler:
    async def endpoint(request: Request) -> Response:
        try:
            body = await read_object(request)
            return await run_in_threadpool(handler, request, body)
        except TetherError as exc:
            return _error(exc)

    return endpoint


def _flag(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise InvalidInput(f"field {name!r} must be true, false or null")
    return value


def create_app(
    config: Config,
    ledger: Ledger,
    engine: Engine,
    bind_host: str | None = None,
) -> Guard:
    bind_host = bind_host or config.server.host
    required = bool(config.server.token) or not is_loopback(bind_host)
    signed = People(ledger, config.server.token, required)
    api = Api(config, ledger, engine, signed)
    assets = Assets()
    feed = Feed(ledger, buses_for(ledger.db.engine, ledger.db.url))
    stream = Stream(feed)
    dashboard = pages.Pages(config, ledger, engine, assets)
    _json = _reads(ledger.db)
    routes = [
        *pages.routes(dashboard, assets),
        *admin.routes(admin.Admin(config, ledger), _json, _post),
        Route("/api/stream", stream.serve),
        Route("/api/stream/status", stream.status),
        Route("/signin", _json(api.signin_page)),
        Route("/api/signin", _post(api.sign_in), methods=["POST"]),
        Route("/api/signout", _post(api.sign_out), methods=["POST"]),
        Route("/api/me", _json(api.me)),
        Route("/api/hosts", _json(api.host_list)),
        Route("/api/health", _json(api.health)),
        Route("/api/audit", _json(api.audit)),
        Route("/api/projects", _json(api.project_list)),
        Route("/api/sessions", _json(api.session_page), methods=["GET"]),
        Route("/api/sessions", _post(api.create_session), methods=["POST"]),
        Route("/api/sessions/{session_id}", _json(api.session_detail)),
        Route("/api/sessions/{session_id}/events", _json(api.event_page)),
        Route("/api/sessions/{session_id}/diff", _json(api.diff)),
        Route("/api/sessions/{session_id}/messages", _post(api.send_message), methods=["POST"]),
        Route("/api/sessions/{session_id}/attach", _post(api.attach), methods=["POST"]),
        Route("/api/sessions/{session_id}/merge", _post(api.merge), methods=["POST"]),
        Route("/api/sessions/{session_id}/pr", _post(api.pull_request), methods=["POST"]),
        Route("/api/sessions/{session_id}/archive", _post(api.archive), methods=["POST"]),
        Route("/api/workspaces/gc", _post(api.gc), methods=["POST"]),
        Route("/api/sessions/{session_id}/rotate", _post(api.rotate), methods=["POST"]),
        Route("/api/turns/{turn_id}", _json(api.turn_detail)),
        Route("/api/usage", _json(api.usage)),
        Route("/api/turns/{turn_id}/finish", _post(api.finish_attached), methods=["POST"]),
        Route("/api/turns/{turn_id}/cancel", _post(api.cancel_turn), methods=["POST"]),
    ]
    lifespan = _lifespan(feed, dashboard)
    app = Starlette(routes=routes, exception_handlers={404: _not_found}, lifespan=lifespan)
    shared = Coalesce(app)
    CommitBus(ledger.db.engine).start(shared.written)
    return Guard(shared, bind_host, signed, config.server.max_body_bytes)


def _lifespan(
    feed: Feed, dashboard: pages.Pages
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        dashboard.compile_all()
        feed.start()
        _freeze_start_up()
        try:
            yield
        finally:
            feed.stop()

    return lifespan


def _freeze_start_up() -> None:
    """Move what start-up built (modules, compiled templates and statements) out of the
    collector's reach: every full collection walked it all, pausing the event loop and so
    every live channel (bench/stream.py)."""
    gc.collect()
    gc.freeze()


async def _not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": f"no such path: {request.url.path[:100]}"}, status_code=404)
