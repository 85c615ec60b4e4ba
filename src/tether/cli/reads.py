"""What ``ls``, ``show``, ``log``, ``wait`` and ``diff`` read: the daemon's API, else the ledger.

Through the daemon a command imports only the standard library's HTTP client
and answers in a few tens of milliseconds; opening the ledger itself costs
SQLAlchemy and a migration check, so it is the path only when no daemon runs
(a read never starts one). Both paths give the API's JSON shapes.
"""

from typing import Any

from tether.cli.client import Client
from tether.cli.context import Context
from tether.server import address


class Reader:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        remote = ctx.config.server.remote
        info = address.remote(remote) if remote else address.running(ctx.config.home)
        self.client = None if info is None else Client(ctx.config, info)

    def sessions(self, **query: Any) -> dict[str, Any]:
        if self.client is not None:
            return self.client.get("/api/sessions", query)
        from tether.domain import serialize
        from tether.domain.states import SessionState
        from tether.ledger import sessions, threads

        state = query.pop("state")
        with self.ctx.ledger.db.read() as conn:
            page = sessions.list_page(conn, state=SessionState(state) if state else None, **query)
            current = threads.current_of(conn, [s.id for s in page.items])
        return {
            "items": [serialize.session_item(s, current.get(s.id)) for s in page.items],
            "next_cursor": page.next_cursor,
        }

    def session(self, session_id: str) -> dict[str, Any]:
        """The session with its turns, its worktree and the worktree's whole diff."""
        if self.client is not None:
            return self.client.get(f"/api/sessions/{session_id}")
        from tether.domain import serialize
        from tether.ledger import diffs, sessions, threads, turns, workspaces

        with self.ctx.ledger.db.read() as conn:
            session = serialize.session(sessions.get(conn, session_id))
            session["turns"] = [serialize.turn(t) for t in turns.for_session(conn, session_id)]
            session["threads"] = [
                serialize.thread(t) for t in threads.for_session(conn, session_id)
            ]
            ws = workspaces.find(conn, session_id)
            whole = diffs.latest_session(conn, session_id) if ws else None
        session["worktree"] = serialize.workspace(ws) if ws else None
        session["diff"] = serialize.diff_summary(whole) if whole else None
        return session

    def events(self, session_id: str, before: str | None, limit: int) -> dict[str, Any]:
        if self.client is not None:
            query = {"before": before, "limit": limit}
            return self.client.get(f"/api/sessions/{session_id}/events", query)
        from tether.domain import serialize
        from tether.ledger import events, sessions

        with self.ctx.ledger.db.read() as conn:
            sessions.get(conn, session_id)
            page = events.page(conn, session_id, before=before, limit=limit)
        return {"items": [serialize.event(e) for e in page.items], "next_cursor": page.next_cursor}

    def diff(self, session_id: str, turn: int | None, offset: int, patches: bool) -> dict[str, Any]:
        """One page of the session's (or one turn's) stored diff."""
        if self.client is not None:
            query = {"turn": turn, "offset": offset, "patches": int(patches)}
            return self.client.get(f"/api/sessions/{session_id}/diff", query)
        from tether.workspaces.view import diff_page

        return diff_page(self.ctx.ledger, session_id, turn=turn, offset=offset, patches=patches)

    def turn(self, turn_id: str) -> dict[str, Any]:
        if self.client is not None:
            return self.client.get(f"/api/turns/{turn_id}")
        from tether.domain import serialize
        from tether.ledger import turns

        with self.ctx.ledger.db.read() as conn:
            return serialize.turn(turns.get(conn, turn_id))
