"""Workspace rows: a session's worktree, branch, base and checkpoint progress."""

import time
from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from tether.domain.states import TERMINAL_TURN_STATES, TurnState
from tether.domain.workspace import Workspace, WorkspaceState
from tether.errors import Conflict, NotFound
from tether.ledger.schema import projects, sessions, turns, workspaces
from tether.ledger.sessions import runs_on

_TERMINAL = [s.value for s in TERMINAL_TURN_STATES]


def _record(row: Row[tuple[object, ...]]) -> Workspace:
    m = row._mapping
    return Workspace(
        **{k: m[k] for k in Workspace.__slots__ if k != "state"}, state=WorkspaceState(m["state"])
    )


def add(
    conn: Connection,
    session_id: str,
    repo: str,
    path: str,
    branch: str,
    base_ref: str,
    base_commit: str,
) -> Workspace:
    try:
        conn.execute(
            insert(workspaces).values(
                session_id=session_id,
                repo=repo,
                path=path,
                branch=branch,
                base_ref=base_ref,
                base_commit=base_commit,
                state=WorkspaceState.PENDING.value,
                created_at=time.time(),
            )
        )
    except IntegrityError as exc:
        raise Conflict(f"cannot record the worktree of {session_id}: {exc.orig}") from exc
    return get(conn, session_id)


_FIND = select(workspaces).where(workspaces.c.session_id == bindparam("session_id"))  # built once


def find(conn: Connection, session_id: str) -> Workspace | None:
    row = conn.execute(_FIND, {"session_id": session_id}).first()
    return None if row is None else _record(row)


def branches_of(conn: Connection, session_ids: list[str]) -> dict[str, str]:
    """The worktree branch of each of some sessions (those that have a worktree)."""
    if not session_ids:
        return {}
    rows = conn.execute(
        select(workspaces.c.session_id, workspaces.c.branch).where(
            workspaces.c.session_id.in_(session_ids)
        )
    )
    return {row.session_id: row.branch for row in rows}


def get(conn: Connection, session_id: str) -> Workspace:
    found = find(conn, session_id)
    if found is None:
        raise NotFound(
            f"session {session_id} has no worktree; start one with `tether spawn --worktree`"
        )
    return found


def update_fields(conn: Connection, session_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(workspaces).where(workspaces.c.session_id == session_id).values(**values))


def _on_host(host: str) -> Any:
    """SQL: the workspace's session runs on this host (see ``sessions.runs_on``)."""
    return (
        select(projects.c.id)
        .join(sessions, sessions.c.project_id == projects.c.id)
        .where(sessions.c.id == workspaces.c.session_id)
        .where(runs_on(host))
        .exists()
    )


def needing_preparation(conn: Connection, host: str) -> list[Workspace]:
    """Worktrees on this host not ready whose session has a queued turn waiting on them."""
    waiting = (
        select(turns.c.session_id)
        .where(turns.c.state == TurnState.QUEUED.value)
        .where(turns.c.session_id == workspaces.c.session_id)
        .exists()
    )
    rows = conn.execute(
        select(workspaces)
        .where(workspaces.c.state.in_([WorkspaceState.PENDING.value, WorkspaceState.CREATED.value]))
        .where(waiting)
        .where(_on_host(host))
    )
    return [_record(r) for r in rows]


def needing_checkpoint(conn: Connection, host: str) -> list[tuple[Workspace, int]]:
    """Worktrees on this host with ended turns not yet checkpointed, and the newest such turn."""
    newest = (
        select(turns.c.number)
        .where(turns.c.session_id == workspaces.c.session_id)
        .where(turns.c.state.in_(_TERMINAL))
        .where(turns.c.number > workspaces.c.checkpointed)
        .order_by(turns.c.number.desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = conn.execute(
        select(workspaces, newest.label("upto"))
        .where(workspaces.c.state.in_([WorkspaceState.CREATED.value, WorkspaceState.READY.value]))
        .where(newest.is_not(None))
        .where(_on_host(host))
    )
    return [(_record(r), int(r._mapping["upto"])) for r in rows]


def in_states(conn: Connection, states: list[WorkspaceState]) -> list[Workspace]:
    rows = conn.execute(select(workspaces).where(workspaces.c.state.in_([s.value for s in states])))
    return [_record(r) for r in rows]


def archived(conn: Connection) -> list[Workspace]:
    """Workspaces of archived sessions whose worktree tether has not removed yet."""
    rows = conn.execute(
        select(workspaces)
        .join(sessions, sessions.c.id == workspaces.c.session_id)
        .where(sessions.c.state == "archived")
        .where(workspaces.c.state != WorkspaceState.REMOVED.value)
    )
    return [_record(r) for r in rows]


def all_paths(conn: Connection) -> set[str]:
    return set(conn.execute(select(workspaces.c.path)).scalars())


def blocks_dispatch(session_id: Any) -> Any:
    """SQL: this session's worktree is not ready, or its last ended turn is not checkpointed.

    Used by the dispatcher, so a turn never starts in a worktree still being
    set up, and each turn's checkpoint holds exactly that turn's change.
    """
    ended = turns.alias("ended")
    unrecorded = (
        select(ended.c.number)
        .where(ended.c.session_id == workspaces.c.session_id)
        .where(ended.c.state.in_(_TERMINAL))
        .where(ended.c.number > workspaces.c.checkpointed)
        .exists()
    )
    return (
        select(workspaces.c.session_id)
        .where(workspaces.c.session_id == session_id)
        .where((workspaces.c.state != WorkspaceState.READY.value) | unrecorded)
        .exists()
    )


def busy(conn: Connection, session_id: str) -> bool:
    """The worktree is being prepared or its last turn's checkpoint is not recorded yet."""
    return bool(conn.execute(select(blocks_dispatch(session_id))).scalar())
