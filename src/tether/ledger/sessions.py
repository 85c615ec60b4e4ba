"""Sessions: numbered per project, bound to one agent and at most one native thread."""

import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    and_,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from tether.domain.ids import parse_session_id
from tether.domain.records import Origin, Project, Session
from tether.domain.states import (
    SessionState,
    TurnState,
    check_session_transition,
    session_state_for,
)
from tether.errors import Conflict, NotFound
from tether.ledger import threads
from tether.ledger.cursor import Page, check_limit, parse_cursor
from tether.ledger.schema import projects, sessions, turns

_COLUMNS = (sessions, projects.c.name.label("project_name"))


def record(row: Row[tuple[object, ...]]) -> Session:
    m = row._mapping
    return Session(
        id=m["id"],
        project=m["project_name"],
        number=m["number"],
        agent=m["agent"],
        origin=Origin(m["origin"]),
        state=SessionState(m["state"]),
        workspace=m["workspace"],
        native_id=m["native_id"],
        model=m["model"],
        title=m["title"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        host=m["host"],
    )


def select_sessions() -> Select[Any]:
    return select(*_COLUMNS).join(projects, projects.c.id == sessions.c.project_id)


# Built once: every page and API read looks sessions up by id, and building the
# statement cost three times what running it does (bench/api.py).
_BY_ID = select_sessions().where(sessions.c.id == bindparam("id"))


# Where a session's turns run: its own host (an external thread's), else its project's.
_placed = func.coalesce(sessions.c.host, projects.c.host)


def runs_on(host: str) -> ColumnElement[bool]:
    """SQL over sessions joined with projects: the session's turns may run on ``host``.

    An external session runs where its native thread's logs are (its own host);
    any other where its project's checkout is; with neither set, on any host.
    """
    return _placed.is_(None) | (_placed == host)


def host_of(conn: Connection, session: Session) -> str | None:
    """Where the session's turns run (see ``runs_on``); None: on any host."""
    query = (
        select(_placed)
        .join(projects, projects.c.id == sessions.c.project_id)
        .where(sessions.c.id == session.id)
    )
    return conn.execute(query).scalar_one()  # type: ignore[no-any-return]


def create(
    conn: Connection,
    project: Project,
    agent: str,
    workspace: str,
    origin: Origin = Origin.TETHER,
    native_id: str | None = None,
    model: str | None = None,
    title: str | None = None,
    spawn_key: str | None = None,
) -> Session:
    """Allocate the next number of the project atomically and insert the session.

    The counter update takes the project row's write lock (PostgreSQL) or the
    database's (SQLite, BEGIN IMMEDIATE), so two concurrent spawns never get
    the same number; the unique constraint is the backstop.
    """
    conn.execute(
        update(projects)
        .where(projects.c.id == project.id)
        .values(next_session=projects.c.next_session + 1)
    )
    number = conn.execute(
        select(projects.c.next_session).where(projects.c.id == project.id)
    ).scalar_one()
    session_id = f"{project.prefix}-{number}"
    now = time.time()
    try:
        conn.execute(
            insert(sessions).values(
                id=session_id,
                project_id=project.id,
                number=number,
                agent=agent,
                origin=origin.value,
                state=SessionState.IDLE.value,
                workspace=workspace,
                native_id=native_id,
                model=model,
                title=title,
                created_at=now,
                updated_at=now,
                spawn_key=spawn_key,
            )
        )
    except IntegrityError as exc:
        raise Conflict(f"cannot create session {session_id}: {exc.orig}") from exc
    return get(conn, session_id)


def create_external(
    conn: Connection, project: Project, agent: str, natives: Sequence[Mapping[str, Any]]
) -> list[str]:
    """External sessions of one project and agent, numbered in one counter update and
    inserted in one statement; ``natives`` hold native_id, workspace, model, title and
    host (the machine whose logs hold the thread: its turns run there).

    Returns their ids, in the order of ``natives``.
    """
    if not natives:
        return []
    conn.execute(
        update(projects)
        .where(projects.c.id == project.id)
        .values(next_session=projects.c.next_session + len(natives))
    )
    last = conn.execute(
        select(projects.c.next_session).where(projects.c.id == project.id)
    ).scalar_one()
    now = time.time()
    rows = [
        {
            "id": f"{project.prefix}-{number}",
            "project_id": project.id,
            "number": number,
            "agent": agent,
            "origin": Origin.EXTERNAL.value,
            "state": SessionState.IDLE.value,
            "workspace": item["workspace"],
            "native_id": item["native_id"],
            "model": item["model"],
            "title": item["title"],
            "host": item["host"],
            "created_at": now,
            "updated_at": now,
        }
        for number, item in enumerate(natives, start=last - len(natives) + 1)
    ]
    try:
        conn.execute(insert(sessions), rows)
    except IntegrityError as exc:
        raise Conflict(f"cannot create external sessions in {project.name}: {exc.orig}") from exc
    return [str(row["id"]) for row in rows]


def ids_by_native(conn: Connection, agent: str, native_ids: Sequence[str]) -> dict[str, str]:
    """Native id -> session id, for the ones a session of ``agent`` holds."""
    found: dict[str, str] = {}
    for start in range(0, len(native_ids), 500):
        rows = conn.execute(
            select(sessions.c.native_id, sessions.c.id).where(
                sessions.c.agent == agent,
                sessions.c.native_id.in_(native_ids[start : start + 500]),
            )
        )
        found.update({native: session for native, session in rows})
    return found


def get(conn: Connection, session_id: str) -> Session:
    parse_session_id(session_id)
    row = conn.execute(_BY_ID, {"id": session_id}).first()
    if row is None:
        raise NotFound(f"no session {session_id}; see `tether ls`")
    return record(row)


def find_by_native_id(conn: Connection, agent: str, native_id: str) -> Session | None:
    """The session whose current thread, or one of its rotated-away threads, this is."""
    row = conn.execute(
        select_sessions().where(and_(sessions.c.agent == agent, sessions.c.native_id == native_id))
    ).first()
    if row is not None:
        return record(row)
    owner = threads.session_of(conn, agent, native_id)
    return None if owner is None else get(conn, owner)


def find_by_spawn_key(conn: Connection, key: str) -> Session | None:
    row = conn.execute(select_sessions().where(sessions.c.spawn_key == key)).first()
    return None if row is None else record(row)


def list_page(
    conn: Connection,
    project: str | None = None,
    state: SessionState | None = None,
    agent: str | None = None,
    before: str | None = None,
    limit: int = 50,
) -> Page[Session]:
    """Newest first; ``before`` is the ``next_cursor`` of the previous page."""
    query = select_sessions().add_columns(sessions.c.pk.label("cursor_pk"))
    if project is not None:
        # Filter on the id, not the joined name: PostgreSQL can then walk the
        # (project_id, pk) index instead of scanning every session backwards.
        project_id = conn.execute(select(projects.c.id).where(projects.c.name == project)).scalar()
        if project_id is None:
            return Page([], None)
        query = query.where(sessions.c.project_id == project_id)
    if state is not None:
        query = query.where(sessions.c.state == state.value)
    if agent is not None:
        query = query.where(sessions.c.agent == agent)
    cursor = parse_cursor(before)
    if cursor is not None:
        query = query.where(sessions.c.pk < cursor)
    rows = conn.execute(query.order_by(sessions.c.pk.desc()).limit(check_limit(limit) + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = str(rows[-1]._mapping["cursor_pk"]) if more else None
    return Page([record(r) for r in rows], next_cursor)


def bind_native_id(conn: Connection, session: Session, native_id: str) -> None:
    """Store the first native id a session reveals; refuse to rebind it."""
    if session.native_id is not None and session.native_id != native_id:
        raise Conflict(
            f"session {session.id} is bound to {session.agent} thread {session.native_id}, "
            f"but the agent reported {native_id}; tether does not rebind sessions"
        )
    owner = threads.session_of(conn, session.agent, native_id)
    if owner is not None and owner != session.id:
        raise Conflict(
            f"{session.agent} thread {native_id} already belongs to another tether session "
            f"({owner})"
        )
    try:
        with conn.begin_nested():  # a savepoint: PostgreSQL aborts the transaction otherwise
            conn.execute(
                update(sessions)
                .where(sessions.c.id == session.id)
                .values(native_id=native_id, updated_at=time.time())
            )
            threads.bind(conn, session, native_id)
    except IntegrityError as exc:
        raise Conflict(
            f"{session.agent} thread {native_id} already belongs to another tether session"
        ) from exc


def set_workspace(conn: Connection, session_id: str, workspace: str) -> Session:
    """Point a session at its directory: a new one's worktree (in the spawn transaction), an
    adopted one's directory found by its native logs."""
    conn.execute(update(sessions).where(sessions.c.id == session_id).values(workspace=workspace))
    return get(conn, session_id)


def archive(conn: Connection, session_id: str) -> None:
    """Close a session for new turns; refused while it has queued or live turns."""
    current = get(conn, session_id).state
    check_session_transition(current, SessionState.ARCHIVED)
    conn.execute(
        update(sessions)
        .where(sessions.c.id == session_id)
        .values(state=SessionState.ARCHIVED.value, updated_at=time.time())
    )


def set_model(conn: Connection, session_id: str, model: str) -> None:
    conn.execute(update(sessions).where(sessions.c.id == session_id).values(model=model))


def refresh_state(conn: Connection, session_id: str) -> SessionState:
    """Derive the session's state from its live turns and store it."""
    return refresh_states(conn, [session_id])[session_id]


_PENDING = (TurnState.QUEUED.value, TurnState.DISPATCHED.value, TurnState.RUNNING.value)


def refresh_states(conn: Connection, session_ids: Sequence[str]) -> dict[str, SessionState]:
    """``refresh_state`` of several sessions in a few statements (a claim of many turns)."""
    ids = sorted(set(session_ids))
    counts: dict[str, dict[str, int]] = {sid: {} for sid in ids}
    rows = conn.execute(
        select(turns.c.session_id, turns.c.state, func.count())
        .where(turns.c.session_id.in_(ids), turns.c.state.in_(_PENDING))
        .group_by(turns.c.session_id, turns.c.state)
    )
    for sid, state, n in rows:
        counts[sid][state] = n
    current = dict(
        conn.execute(select(sessions.c.id, sessions.c.state).where(sessions.c.id.in_(ids))).all()
    )
    targets: dict[str, SessionState] = {}
    moves: dict[SessionState, list[str]] = {}
    for sid in ids:
        count = counts[sid]
        running = count.get(TurnState.DISPATCHED.value, 0) + count.get(TurnState.RUNNING.value, 0)
        targets[sid] = session_state_for(running, count.get(TurnState.QUEUED.value, 0))
        was = SessionState(current[sid])
        if targets[sid] != was:
            check_session_transition(was, targets[sid])
            moves.setdefault(targets[sid], []).append(sid)
    now = time.time()
    for target, moved in moves.items():
        conn.execute(
            update(sessions)
            .where(sessions.c.id.in_(moved))
            .values(state=target.value, updated_at=now)
        )
    return targets
