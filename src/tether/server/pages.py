"""The dashboard's pages, rendered on the server from the ledger (readable without JavaScript).

Every handler reads indexed tables only (invariant 4). Forms post back here
and redirect (post/redirect/get), so a page works with scripts off; the
scripts enhance the same forms with the JSON API and the live channel.
"""

import datetime
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlencode

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from tether import __version__
from tether.config import Config
from tether.domain.ids import parse_session_id, parse_turn_id
from tether.domain.records import Event, Origin
from tether.domain.states import SessionState
from tether.engine import accept, audit
from tether.engine.cancel import CancelResult
from tether.engine.supervisor import Engine
from tether.errors import InvalidInput, NotFound, TetherError
from tether.history.adopt import adopt
from tether.ledger import (
    diffs,
    events,
    overview,
    projects,
    sessions,
    threads,
    turns,
    workspaces,
)
from tether.ledger import history as ledger_history
from tether.ledger.store import Ledger
from tether.server import reads
from tether.server.assets import Assets
from tether.server.auth import person_of
from tether.server.encoded import EncodedEvents
from tether.server.render import environment

OVERVIEW_PAGE = 50
NEEDS_YOU_SHOWN = 50
TIMELINE_TURNS = 20
TRANSCRIPT_PAGE = 40
SEARCH_RESULTS = 50
AsyncHandler = Callable[[Request], Awaitable[Response]]
USAGE_PERIODS = {"7": 7, "30": 30, "90": 90, "365": 365}
# Scripts and styles come only from this server; nothing a session wrote can run here.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; worker-src 'self'; frame-ancestors 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _choice(request: Request, name: str, kind: Callable[[str], Any]) -> Any:
    raw = request.query_params.get(name) or None
    if raw is None:
        return None
    try:
        return kind(raw)
    except ValueError as exc:
        raise InvalidInput(f"{name} cannot be {raw[:40]!r}") from exc


def _filters(request: Request) -> overview.Filters:
    q = request.query_params
    return overview.Filters(
        project=q.get("project") or None,
        agent=q.get("agent") or None,
        origin=_choice(request, "origin", Origin),
        state=_choice(request, "state", SessionState),
        archived=q.get("archived") == "1",
    )


async def _form(request: Request) -> dict[str, str]:
    """A same-origin urlencoded form (the Guard caps its size and refuses other origins)."""
    if "origin" not in request.headers:
        raise InvalidInput("a form post must carry an Origin header")
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


class Pages:
    def __init__(self, config: Config, ledger: Ledger, engine: Engine, assets: Assets) -> None:
        self.config = config
        self.ledger = ledger
        self.engine = engine
        self.env = environment(assets)
        self.transcripts = EncodedEvents(self._event_markup)
        self._event_macro = self.env.get_template("_event.html").module.event  # type: ignore[attr-defined]

    def _event_markup(self, event: Event) -> str:
        """An event's markup: a macro call, 40% of the time a render of a template took."""
        return Markup(self._event_macro(event))

    def compile_all(self) -> None:
        """Compile every template now, at start-up: compiling the session page and its
        partials on its first request took ~60 ms of that request (bench/transcript.py)."""
        for name in self.env.list_templates(extensions=["html"]):
            self.env.get_template(name)

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(version=__version__, **context)
        return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)

    def problem(self, exc: TetherError) -> HTMLResponse:
        status = 404 if isinstance(exc, NotFound) else 400
        return self.render("error.html", status=status, message=str(exc))

    # Overview

    def overview(self, request: Request) -> Response:
        if request.query_params.get("q"):
            return RedirectResponse("/search?" + urlencode({"q": request.query_params["q"]}), 303)
        filters = _filters(request)
        before = request.query_params.get("before")
        with self.ledger.db.read() as conn:
            urgent = [] if before else overview.needs_you(conn, filters, NEEDS_YOU_SHOWN)
            page = overview.sessions_page(conn, filters, before, OVERVIEW_PAGE)
            listed = page.items + [s for s, _ in urgent]
            latest = turns.latest_of(conn, [s.id for s in listed])
            spent = overview.spend(conn, listed)
            branches = workspaces.branches_of(conn, [s.id for s in listed])
            project_names = [p.name for p in projects.list_all(conn)]
            found = audit.stored(conn)
        query = {k: v for k, v in request.query_params.items() if k != "before" and v}
        return self.render(
            "overview.html",
            urgent=urgent,
            page=page,
            latest=latest,
            spent=spent,
            branches=branches,
            audit=found,
            filters=filters,
            projects=project_names,
            agents=sorted({s.agent for s in listed} | {filters.agent or ""} - {""}),
            states=[s.value for s in SessionState],
            next_url="/?" + urlencode({**query, "before": page.next_cursor})
            if page.next_cursor
            else None,
        )

    def rows(self, request: Request) -> Response:
        """Fresh rows for sessions a live page shows, after the stream said they changed."""
        ids = [i for i in request.query_params.get("ids", "").split(",") if i][:OVERVIEW_PAGE]
        with self.ledger.db.read() as conn:
            listed = []
            for session_id in ids:
                try:
                    listed.append(sessions.get(conn, str(parse_session_id(session_id))))
                except NotFound:
                    continue
            latest = turns.latest_of(conn, [s.id for s in listed])
            spent = overview.spend(conn, listed)
            branches = workspaces.branches_of(conn, [s.id for s in listed])
        return self.render(
            "_rows.html", listed=listed, latest=latest, spent=spent, branches=branches
        )

    # A session

    async def session(self, request: Request) -> Response:
        """The page is read where reads run (server/reads.py); opening it acknowledges the
        session's finished turns, a write, so that goes to the thread pool, and is committed
        before the page is answered (an overview fetched next no longer lists them)."""
        session_id = str(parse_session_id(request.path_params["session_id"]))
        page, unseen = await reads.read(self.ledger.db, self._session, request)
        if unseen is not None:
            await run_in_threadpool(self._mark_seen, session_id, unseen)
        return page

    def _session(self, request: Request) -> tuple[Response, int | None]:
        """The session page, and its newest finished turn when that is not yet seen."""
        session_id = str(parse_session_id(request.path_params["session_id"]))
        before = request.query_params.get("before")
        with self.ledger.db.read() as conn:
            session = sessions.get(conn, session_id)
            timeline = overview.recent_turns(conn, session_id, TIMELINE_TURNS)
            page = self.transcripts.page(conn, session_id, before, TRANSCRIPT_PAGE)
            prompts = overview.turns_by_id(conn, {e.turn_id for e in page.items if e.turn_id})
            spent = overview.spend(conn, [session]).get(session_id)
            seen = overview.seen_turn(conn, session_id)
            worktree = workspaces.find(conn, session_id)
            whole = diffs.latest_session(conn, session_id) if worktree else None
            thread = threads.current(conn, session_id)
        finished = max((t.number for t in timeline if t.state.terminal), default=0)
        rendered = self.render(
            "session.html",
            session=session,
            timeline=timeline,
            transcript=list(reversed(page.items)),
            prompts=prompts,
            older=page.next_cursor,
            paged=before is not None,
            spent=spent,
            message_key=uuid.uuid4().hex,
            notice=_notice(request),
            worktree=worktree,
            diff=whole,
            thread=thread,
            rotate_at=self.config.engine.rotate_at,
        )
        return rendered, finished if finished > seen else None

    def _mark_seen(self, session_id: str, number: int) -> None:
        with self.ledger.db.write() as conn:
            overview.mark_seen(conn, session_id, number)

    def transcript(self, request: Request) -> Response:
        """A fragment of events: older than ``before`` (scrolling up) or newer than ``after``."""
        session_id = str(parse_session_id(request.path_params["session_id"]))
        after = request.query_params.get("after")
        with self.ledger.db.read() as conn:
            sessions.get(conn, session_id)
            if after is not None:
                if not after.isdigit() or len(after) > 19:
                    raise InvalidInput("after must be an event id")
                found = events.after(conn, session_id, int(after), TRANSCRIPT_PAGE)
                items, older = self.transcripts.encoded(session_id, found), None
            else:
                page = self.transcripts.page(
                    conn, session_id, request.query_params.get("before"), TRANSCRIPT_PAGE
                )
                items, older = list(reversed(page.items)), page.next_cursor
            prompts = overview.turns_by_id(conn, {e.turn_id for e in items if e.turn_id})
        return self.render("_events.html", transcript=items, prompts=prompts, older=older)

    def gauge(self, request: Request) -> Response:
        """The current thread's fill, after the stream said it changed."""
        session_id = str(parse_session_id(request.path_params["session_id"]))
        with self.ledger.db.read() as conn:
            session = sessions.get(conn, session_id)
            thread = threads.current(conn, session_id)
        return self.render(
            "_gauge.html", session=session, thread=thread, rotate_at=self.config.engine.rotate_at
        )

    def audit_panel(self, request: Request) -> Response:
        """The stored audit findings, after the stream said one opened or resolved."""
        with self.ledger.db.read() as conn:
            return self.render("_audit.html", audit=audit.stored(conn))

    def turn_card(self, request: Request) -> Response:
        turn_id = str(parse_turn_id(request.path_params["turn_id"]))
        with self.ledger.db.read() as conn:
            turn = turns.get(conn, turn_id)
        return self.render("_turn.html", turn=turn)

    async def send(self, request: Request) -> Response:
        form = await _form(request)
        session_id = request.path_params["session_id"]
        accepted = await run_in_threadpool(
            partial(
                accept.send,
                self.config,
                self.ledger,
                session_id,
                form.get("message", ""),
                key=form.get("key") or None,
                by=person_of(request.scope).name,
            )
        )
        self.engine.poke()
        return RedirectResponse(f"/sessions/{session_id}#turn-{accepted.turn.id}", 303)

    async def cancel(self, request: Request) -> Response:
        await _form(request)
        turn_id = str(parse_turn_id(request.path_params["turn_id"]))
        result = await run_in_threadpool(self._cancel, turn_id, person_of(request.scope).name)
        session_id = turn_id.rsplit(".", 1)[0]
        query = urlencode({"turn": turn_id, "cancel": result.outcome.value})
        return RedirectResponse(f"/sessions/{session_id}?{query}#turn-{turn_id}", 303)

    def _cancel(self, turn_id: str, by: str) -> CancelResult:
        with self.ledger.db.write() as conn:
            turns.record_cancel_request(conn, turn_id, by)
        return self.engine.cancel(turn_id)

    async def adopt(self, request: Request) -> Response:
        form = await _form(request)
        adopted = await run_in_threadpool(
            adopt, self.ledger, request.path_params["session_id"], form.get("project") or None
        )
        return RedirectResponse(f"/sessions/{adopted.id}", 303)

    # Usage and search

    def usage(self, request: Request) -> Response:
        days = USAGE_PERIODS.get(request.query_params.get("days", "30"), 30)
        since = _day_ago(days)
        with self.ledger.db.read() as conn:
            report = {
                by: ledger_history.usage_report(conn, by, since)
                for by in ("daily", "agent", "model", "project")
            }
        return self.render(
            "usage.html",
            report=report,
            days=days,
            periods=list(USAGE_PERIODS),
            chart=_chart(report["daily"]),
        )

    def search(self, request: Request) -> Response:
        text = request.query_params.get("q", "")[:200]
        with self.ledger.db.read() as conn:
            hits = ledger_history.search(conn, text, SEARCH_RESULTS) if text.strip() else []
        return self.render("search.html", q=text, hits=hits)

    def blob(self, request: Request) -> Response:
        """Stored outputs as plain text or a download, never as a page a browser would run."""
        path = self.ledger.blobs.path(request.path_params["sha256"])
        if not path.is_file():
            raise NotFound(f"no blob {request.path_params['sha256']} in this ledger")
        download = request.query_params.get("download") == "1"
        return FileResponse(
            path,
            media_type="text/plain; charset=utf-8",
            filename=f"{path.name}.txt" if download else None,
            content_disposition_type="attachment" if download else "inline",
            headers={
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "private, max-age=31536000, immutable",
            },
        )


def _notice(request: Request) -> str | None:
    outcome, turn_id = request.query_params.get("cancel"), request.query_params.get("turn")
    if outcome and turn_id:
        return f"cancel {turn_id[:80]}: {outcome[:40].replace('_', ' ')}"
    return None


def _day_ago(days: int) -> str:
    today = datetime.datetime.now(datetime.UTC).date()
    return (today - datetime.timedelta(days=days - 1)).isoformat()


def _chart(daily: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bars of the per-day chart, as fractions of the busiest day (an SVG, no chart library)."""
    totals = [
        (row["key"], sum(v for k, v in row.items() if k.endswith("_tokens"))) for row in daily
    ]
    peak = max((t for _, t in totals), default=0) or 1
    return [{"day": day, "tokens": total, "height": total / peak} for day, total in totals]


def _page(
    pages: Pages, handler: Callable[[Request], Response], *, bounded: bool = True
) -> AsyncHandler:
    """A read where ``reads.read`` runs it (``bounded``: its cost does not grow with the
    ledger); a TetherError becomes a page with the message to act on."""

    async def endpoint(request: Request) -> Response:
        try:
            return await reads.read(pages.ledger.db, handler, request, bounded=bounded)
        except TetherError as exc:
            return pages.problem(exc)

    return endpoint


def _action(pages: Pages, handler: AsyncHandler) -> AsyncHandler:
    """An async handler (a form post, or a read followed by a write); a TetherError
    becomes a page with the message to act on."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except TetherError as exc:
            return pages.problem(exc)

    return endpoint


def routes(pages: Pages, assets: Assets) -> list[Route]:
    return [
        Route("/", _page(pages, pages.overview)),
        Route("/partials/rows", _page(pages, pages.rows)),
        Route("/partials/audit", _page(pages, pages.audit_panel)),
        Route("/sessions/{session_id}", _action(pages, pages.session)),
        Route("/sessions/{session_id}/transcript", _page(pages, pages.transcript)),
        Route("/sessions/{session_id}/gauge", _page(pages, pages.gauge)),
        Route("/sessions/{session_id}/send", _action(pages, pages.send), methods=["POST"]),
        Route("/sessions/{session_id}/adopt", _action(pages, pages.adopt), methods=["POST"]),
        Route("/turns/{turn_id}/card", _page(pages, pages.turn_card)),
        Route("/turns/{turn_id}/cancel", _action(pages, pages.cancel), methods=["POST"]),
        Route("/usage", _page(pages, pages.usage)),
        Route("/search", _page(pages, pages.search, bounded=False)),
        Route("/blobs/{sha256}", _page(pages, pages.blob)),
        Route("/static/{digest}/{name}", assets.serve),
    ]
