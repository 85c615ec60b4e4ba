"""The overview's queries: what needs a person first, then live sessions by state.

"Needs you" is a session whose newest turn failed, timed out, was interrupted
or is stalled, or finished since the person last opened the session. Both
lists are driven by indexes (turns by state, sessions by state and pk), so
the overview costs the same with 10 sessions or 10,000.
"""

import time
from dataclasses import dataclass

from sqlalchemy import Connection, Select, and_, bindparam, case, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tether.domain.records import Origin, Session, Turn
from tether.domain.states import SessionState, TurnState
from tether.errors import InvalidInput
from tether.ledger import sessions as session_rows
from tether.ledger import turns as turn_rows
from tether.ledger.cursor import Page, check_limit
from tether.ledger.schema import projects, session_views, sessions, turns, usage_totals

NEEDS_YOU_WINDOW_S = 7 * 86400.0  # older finished turns no longer ask for attention
PROBLEM_STATES = (TurnState.FAILED, TurnState.TIMED_OUT, TurnState.INTERRUPTED)
FINISHED_STATES = (*PROBLEM_STATES, TurnState.COMPLETED)
GROUPS = (SessionState.RUNNING, SessionState.QUEUED, SessionState.IDLE, SessionState.ARCHIVED)


@dataclass(frozen=True, slots=True)
class Filters:
    project: str | None = None
    agent: str | None = None
    origin: Origin | None = None
    state: SessionState | None = None
    archived: bool = False  # archived sessions are hidden unless asked for

    def apply(self, query: Select[tuple[object, ...]]) -> Select[tuple[object, ...]]:
        if self.project is not None:
            query = query.where(projects.c.name == self.project)
        if self.agent is not None:
            query = query.where(sessions.c.agent == self.agent)
        if self.origin is not None:
            query = query.where(sessions.c.origin == self.origin.value)
        if self.state is not None:
            query = query.where(sessions.c.state == self.state.value)
        elif not self.archived:
            query = query.where(sessions.c.state != SessionState.ARCHIVED.value)
        return query


def needs_you(conn: Connection, filters: Filters, limit: int = 50) -> list[tuple[Session, Turn]]:
    """Sessions whose newest turn asks for a person: problems first, newest first."""
    newest = and_(turns.c.session_id == sessions.c.id, turns.c.number == sessions.c.next_turn)
    finished = and_(
        turns.c.state.in_([s.value for s in FINISHED_STATES]),
        turns.c.accepted_at >= time.time() - NEEDS_YOU_WINDOW_S,
        func.coalesce(session_views.c.seen_turn, 0) < turns.c.number,
    )
    stalled = and_(turns.c.state.in_(turn_rows.LIVE_STATES), turns.c.stalled_at.is_not(None))
    problem = case((turns.c.state == TurnState.COMPLETED.value, 1), else_=0)
    query = (
        select(turns.c.id.label("turn_id"), turns.c.session_id)
        .select_from(
            turns.join(sessions, newest)
            .join(projects, projects.c.id == sessions.c.project_id)
            .outerjoin(session_views, session_views.c.session_id == sessions.c.id)
        )
        .where(or_(finished, stalled))
        .order_by(problem, func.coalesce(turns.c.finished_at, turns.c.stalled_at).desc())
        .limit(check_limit(limit))
    )
    found = conn.execute(filters.apply(query)).all()
    return [(session_rows.get(conn, r.session_id), turn_rows.get(conn, r.turn_id)) for r in found]


def _parse(before: str | None) -> tuple[int, int | None]:
    """An overview cursor is ``group.pk``: the state group and the last session shown."""
    if not before:
        return 0, None
    group, _, pk = before.partition(".")
    if not (group.isdigit() and pk.isdigit() and int(group) < len(GROUPS) and len(pk) < 19):
        raise InvalidInput(f"{before[:40]!r} is not an overview cursor; pass one back as is")
    return int(group), int(pk)


def sessions_page(
    conn: Connection, filters: Filters, before: str | None = None, limit: int = 50
) -> Page[Session]:
    """Running, then queued, then idle (then archived when asked), newest first in each."""
    check_limit(limit)
    start, pk = _parse(before)
    found: list[tuple[Session, str]] = []
    for group in range(start, len(GROUPS)):
        state = GROUPS[group]
        if filters.state not in (None, state):
            continue
        if state is SessionState.ARCHIVED and filters.state is None and not filters.archived:
            continue
        query = session_rows.select_sessions().where(sessions.c.state == state.value)
        if group == start and pk is not None:
            query = query.where(sessions.c.pk < pk)
        query = filters.apply(query.add_columns(sessions.c.pk.label("cursor_pk")))
        rows = conn.execute(query.order_by(sessions.c.pk.desc()).limit(limit + 1 - len(found)))
        found.extend((session_rows.record(r), f"{group}.{r._mapping['cursor_pk']}") for r in rows)
        if len(found) > limit:
            break
    shown = found[:limit]
    return Page([s for s, _ in shown], shown[-1][1] if len(found) > limit else None)


# Built once: the session page runs these on every request.
_SEEN = select(session_views.c.seen_turn).where(
    session_views.c.session_id == bindparam("session_id")
)
_RECENT = (
    select(turns)
    .where(turns.c.session_id == bindparam("session_id"))
    .order_by(turns.c.number.desc())
    .limit(bindparam("limit"))
)
_BY_IDS = select(turns).where(turns.c.id.in_(bindparam("ids", expanding=True)))


def seen_turn(conn: Connection, session_id: str) -> int:
    value = conn.execute(_SEEN, {"session_id": session_id}).scalar()
    return int(value or 0)


def mark_seen(conn: Connection, session_id: str, turn_number: int) -> None:
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    values = {"session_id": session_id, "seen_turn": turn_number, "seen_at": time.time()}
    stmt = dialect_insert(session_views).values(**values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["session_id"],
            set_={"seen_turn": turn_number, "seen_at": values["seen_at"]},
        )
    )


@dataclass(frozen=True, slots=True)
class Spend:
    tokens: int
    cost: float | None  # of the priced entries; None when no entry has a price
    unpriced_tokens: int  # tokens of models without a known price (never counted as $0)


_SPEND = select(  # built once: every page with sessions on it asks
    usage_totals.c.agent,
    usage_totals.c.native_id,
    usage_totals.c.tokens,
    usage_totals.c.cost,
    usage_totals.c.priced,
    usage_totals.c.unpriced_tokens,
).where(
    # Both columns of the key: on the native id alone the database would walk all of it.
    usage_totals.c.agent.in_(bindparam("agents", expanding=True)),
    usage_totals.c.native_id.in_(bindparam("natives", expanding=True)),
)


def spend(conn: Connection, listed: list[Session]) -> dict[str, Spend]:
    """Tokens and cost of each listed session, in one query of the totals that triggers keep
    as usage entries are written (a session with none, or none left, has no spend)."""
    keyed = {(s.agent, s.native_id): s.id for s in listed if s.native_id}
    if not keyed:
        return {}
    agents = sorted({agent for agent, _ in keyed})
    rows = conn.execute(_SPEND, {"agents": agents, "natives": [native for _, native in keyed]})
    found: dict[str, Spend] = {}
    for agent, native_id, total, cost, priced, without_price in rows:
        session_id = keyed.get((agent, native_id))
        if session_id is not None and (total or priced):
            found[session_id] = Spend(
                int(total), float(cost) if priced else None, int(without_price)
            )
    return found


def recent_turns(conn: Connection, session_id: str, limit: int) -> list[Turn]:
    """The newest ``limit`` turns of a session, oldest first (a timeline, not a history)."""
    rows = conn.execute(_RECENT, {"session_id": session_id, "limit": check_limit(limit)}).all()
    return [turn_rows.record(r) for r in reversed(rows)]


def turns_by_id(conn: Connection, turn_ids: set[str]) -> dict[str, Turn]:
    if not turn_ids:
        return {}
    rows = conn.execute(_BY_IDS, {"ids": sorted(turn_ids)})
    return {r._mapping["id"]: turn_rows.record(r) for r in rows}
