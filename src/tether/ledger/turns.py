"""Turns: one message to an agent and everything that happened to it."""

import time
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, Row, Select, bindparam, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tether.domain.ids import parse_turn_id
from tether.domain.records import TURN_PHASES, Phases, Session, Turn, TurnKind, Usage
from tether.domain.states import TurnState, check_turn_transition
from tether.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from tether.ledger import sessions as session_rows
from tether.ledger import workspaces as workspace_rows
from tether.ledger.schema import hosts, projects, sessions, turns

MAX_KEY_LENGTH = 255
_USAGE_COLUMNS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)


def record(row: Row[tuple[object, ...]]) -> Turn:
    m = row._mapping
    return Turn(
        id=m["id"],
        session_id=m["session_id"],
        number=m["number"],
        kind=TurnKind(m["kind"]),
        prompt=m["prompt"],
        idempotency_key=m["idempotency_key"],
        state=TurnState(m["state"]),
        reason=m["reason"],
        attempts=m["attempts"],
        phases=Phases(**{p: m[f"{p}_at"] for p in TURN_PHASES}),
        usage=Usage(**{c: m[c] for c in _USAGE_COLUMNS}),
        stalled_at=m["stalled_at"],
        accepted_by=m["accepted_by"],
        cancelled_by=m["cancelled_by"],
        host=m["host"],
        retry_errors=m["retry_errors"],
        retrying_since=m["retrying_since"],
        compacting_since=m["compacting_since"],
    )


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"an idempotency key must be 1-{MAX_KEY_LENGTH} characters")


def add(
    conn: Connection,
    session: Session,
    prompt: str,
    key: str | None = None,
    kind: TurnKind = TurnKind.PROMPT,
    model: str | None = None,
    by: str | None = None,
    path_env: str | None = None,
) -> tuple[Turn, bool]:
    """Queue a turn; with a key seen before, return that turn instead (``created`` False)."""
    if key is not None:
        check_key(key)
        existing = conn.execute(
            select(turns).where(turns.c.session_id == session.id, turns.c.idempotency_key == key)
        ).first()
        if existing is not None:
            return record(existing), False
    conn.execute(
        update(sessions)
        .where(sessions.c.id == session.id)
        .values(next_turn=sessions.c.next_turn + 1)
    )
    number = conn.execute(
        select(sessions.c.next_turn).where(sessions.c.id == session.id)
    ).scalar_one()
    turn_id = f"{session.id}.{number}"
    try:
        conn.execute(
            insert(turns).values(
                id=turn_id,
                session_id=session.id,
                number=number,
                kind=kind.value,
                prompt=prompt,
                idempotency_key=key,
                model=model,
                accepted_by=by,
                path_env=path_env,
                state=TurnState.QUEUED.value,
                accepted_at=time.time(),
            )
        )
    except IntegrityError as exc:
        raise Conflict(f"cannot queue turn {turn_id}: {exc.orig}") from exc
    session_rows.refresh_state(conn, session.id)
    return get(conn, turn_id), True


def get(conn: Connection, turn_id: str) -> Turn:
    parse_turn_id(turn_id)
    row = conn.execute(select(turns).where(turns.c.id == turn_id)).first()
    if row is None:
        raise NotFound(f"no turn {turn_id}")
    return record(row)


_OF_SESSION = (  # built once: the session API reads it on every request
    select(turns).where(turns.c.session_id == bindparam("session_id")).order_by(turns.c.number)
)


def for_session(conn: Connection, session_id: str) -> list[Turn]:
    rows = conn.execute(_OF_SESSION, {"session_id": session_id})
    return [record(r) for r in rows]


def latest(conn: Connection, session_id: str) -> Turn | None:
    row = conn.execute(
        select(turns)
        .where(turns.c.session_id == session_id)
        .order_by(turns.c.number.desc())
        .limit(1)
    ).first()
    return None if row is None else record(row)


def transition(
    conn: Connection,
    turn_id: str,
    target: TurnState,
    reason: str | None = None,
    **values: object,
) -> Turn:
    """Move a turn to ``target`` if the table allows it; compare-and-set on the state.

    A terminal target also stamps ``finished_at``. Extra ``values`` are column
    updates that belong to the same step (e.g. ``dispatched_at``).
    """
    current = get(conn, turn_id)
    check_turn_transition(current.state, target)
    changes: dict[str, object] = {"state": target.value, **values}
    if reason is not None:
        changes["reason"] = reason
    if target.terminal:
        changes.setdefault("finished_at", time.time())
    result = conn.execute(
        update(turns)
        .where(turns.c.id == turn_id, turns.c.state == current.state.value)
        .values(**changes)
    )
    if result.rowcount != 1:
        raise IllegalTransition(f"turn {turn_id} changed state while moving to {target}")
    session_rows.refresh_state(conn, current.session_id)
    return get(conn, turn_id)


def update_fields(conn: Connection, turn_id: str, values: Mapping[str, object]) -> None:
    """Stamp phases, attempts or usage on a live turn; terminal turns are left alone."""
    conn.execute(
        update(turns).where(turns.c.id == turn_id, turns.c.finished_at.is_(None)).values(**values)
    )


def record_cancel_request(conn: Connection, turn_id: str, by: str) -> None:
    """Who asked to stop a turn that has not ended yet (the first asker is kept)."""
    conn.execute(
        update(turns)
        .where(turns.c.id == turn_id, turns.c.finished_at.is_(None), turns.c.cancelled_by.is_(None))
        .values(cancelled_by=by)
    )


LIVE_STATES = (TurnState.DISPATCHED.value, TurnState.RUNNING.value)


def live(conn: Connection, host: str | None = None) -> list[Turn]:
    """Live turns, all of them or those one host claimed."""
    query = select(turns).where(turns.c.state.in_(LIVE_STATES))
    if host is not None:
        query = query.where(turns.c.host == host)
    return [record(r) for r in conn.execute(query)]


def ended_by_peer(conn: Connection, host: str, since: float) -> list[Turn]:
    """``host``'s turns a peer interrupted (the host was presumed dead) since ``since``."""
    rows = conn.execute(
        select(turns).where(
            turns.c.host == host,
            turns.c.state == TurnState.INTERRUPTED.value,
            turns.c.outcome == TurnState.INTERRUPTED.value,
            turns.c.finished_at >= since,
        )
    )
    return [record(r) for r in rows]


def interrupt_silent_host(conn: Connection, host: str, cutoff: float, reason: str) -> list[Turn]:
    """End ``host``'s live turns as interrupted if its heartbeat is still older than ``cutoff``.

    The host's row is locked first, so a heartbeat arriving now waits for
    this decision and a peer sweeping at the same time finds nothing left.
    The decided outcome is stored too: should the host come back, its own
    watchdog sees it and stops the agent.
    """
    beat = conn.execute(
        select(hosts.c.heartbeat_at).where(hosts.c.name == host).with_for_update()
    ).scalar()
    if beat is None or beat >= cutoff:
        return []
    ended = []
    for turn in live(conn, host):
        turns_row = update(turns).where(turns.c.id == turn.id, turns.c.outcome.is_(None))
        conn.execute(turns_row.values(outcome=TurnState.INTERRUPTED.value))
        ended.append(transition(conn, turn.id, TurnState.INTERRUPTED, reason=reason))
    return ended


def unfinished(conn: Connection, session_id: str) -> list[Turn]:
    """A session's queued and live turns, oldest first."""
    rows = conn.execute(
        select(turns)
        .where(turns.c.session_id == session_id)
        .where(turns.c.state.in_([TurnState.QUEUED.value, *LIVE_STATES]))
        .order_by(turns.c.number)
    )
    return [record(r) for r in rows]


def require_idle(conn: Connection, session_id: str, action: str) -> None:
    """Refuse ``action`` (merging, archiving…) while the session has a queued or live turn."""
    busy = unfinished(conn, session_id)
    if busy:
        raise Conflict(
            f"session {session_id} has turn {busy[0].id} {busy[0].state}; wait for it "
            f"(tether wait) or cancel it before {action}"
        )


def count_live(conn: Connection, host: str | None = None) -> int:
    """Live turns, all of them or those one host claimed."""
    query = select(func.count()).select_from(turns).where(turns.c.state.in_(LIVE_STATES))
    if host is not None:
        query = query.where(turns.c.host == host)
    return int(conn.execute(query).scalar_one())


def next_dispatchable(conn: Connection, limit: int, host: str | None = None) -> list[Turn]:
    """The oldest queued turn of each session whose lane is free, oldest first.

    The unique partial index on live turns backs this up: a second live turn
    for a session cannot be written even if two dispatchers race. With a
    ``host``, only turns of projects on that host (or on none).
    """
    return [record(r) for r in conn.execute(_dispatchable(limit, host))]


def claim(conn: Connection, host: str, limit: int, only_own: bool) -> list[Turn]:
    """Take up to ``limit`` dispatchable turns for ``host``, marked dispatched by it.

    On PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED``: hosts
    claiming at the same moment each get different turns, and a row a peer
    has just claimed is re-checked (no longer queued) rather than taken
    twice. On SQLite the write transaction already holds the only write lock.
    ``only_own`` limits the turns to projects on ``host`` (or on none).
    """
    query = _dispatchable(limit, host if only_own else None).with_for_update(
        skip_locked=True, of=turns
    )
    ids = [record(r).id for r in conn.execute(query)]
    if not ids:
        return []
    check_turn_transition(TurnState.QUEUED, TurnState.DISPATCHED)
    done = conn.execute(  # one statement for the batch: a claim is the team's hot path
        update(turns)
        .where(turns.c.id.in_(ids), turns.c.state == TurnState.QUEUED.value)
        .values(state=TurnState.DISPATCHED.value, dispatched_at=time.time(), attempts=1, host=host)
    )
    if done.rowcount != len(ids):
        raise IllegalTransition(f"turns {', '.join(ids)} changed state while being claimed")
    claimed = {t.id: t for t in map(record, conn.execute(select(turns).where(turns.c.id.in_(ids))))}
    session_rows.refresh_states(conn, [t.session_id for t in claimed.values()])
    return [claimed[i] for i in ids]


def _dispatchable(limit: int, host: str | None) -> Select[tuple[object, ...]]:
    # A session's oldest queued turn as a correlated min() over the (session, number)
    # index: as "no earlier queued turn" (NOT EXISTS), PostgreSQL without statistics of
    # a fresh queue planned an anti join that compared every pair of queued turns.
    earlier = turns.alias("earlier")
    busy = turns.alias("busy")
    query = (
        select(turns)
        .where(turns.c.state == TurnState.QUEUED.value)
        .where(
            turns.c.number
            == select(func.min(earlier.c.number))
            .where(
                earlier.c.session_id == turns.c.session_id,
                earlier.c.state == TurnState.QUEUED.value,
            )
            .scalar_subquery()
        )
        .where(
            ~exists().where(busy.c.session_id == turns.c.session_id, busy.c.state.in_(LIVE_STATES))
        )
        .where(~workspace_rows.blocks_dispatch(turns.c.session_id))
        .order_by(turns.c.accepted_at, turns.c.id)
        .limit(limit)
    )
    if host is not None:
        placed = (
            select(sessions.c.id)
            .join(projects, projects.c.id == sessions.c.project_id)
            .where(session_rows.runs_on(host))
        )
        query = query.where(turns.c.session_id.in_(placed))
    return query


@dataclass(frozen=True, slots=True)
class RunState:
    """Engine bookkeeping of a live turn that is not part of the Turn record."""

    model: str | None
    runner_pid: int | None
    runner_ticks: int | None
    stream_offset: int
    stalled_at: float | None
    outcome: str | None  # terminal state decided by tether, applied when the process exits
    path_env: str | None  # the sender's PATH, which the agent is found and run on


def run_state(conn: Connection, turn_id: str) -> RunState:
    columns = [turns.c[f] for f in RunState.__slots__]
    row = conn.execute(select(*columns).where(turns.c.id == turn_id)).one()
    return RunState(**row._mapping)


def latest_of(conn: Connection, session_ids: list[str]) -> dict[str, Turn]:
    """Each listed session's newest turn, in one query (for listings)."""
    if not session_ids:
        return {}
    newest = (
        select(turns.c.session_id, func.max(turns.c.number).label("number"))
        .where(turns.c.session_id.in_(session_ids))
        .group_by(turns.c.session_id)
        .subquery()
    )
    rows = conn.execute(
        select(turns).join(
            newest,
            (turns.c.session_id == newest.c.session_id) & (turns.c.number == newest.c.number),
        )
    )
    return {r._mapping["session_id"]: record(r) for r in rows}
