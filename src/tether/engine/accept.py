"""Accepting work: a message becomes a queued turn in the ledger before anything runs.

This is invariant 6's first half: once ``spawn`` or ``send`` returns a turn
id, the turn is committed and will end in a terminal state, whatever happens
to the daemon in between.
"""

import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection

from tether.agents.provider import Launch, TurnRequest
from tether.agents.registry import check_agent, provider_for
from tether.config import Config
from tether.domain.ids import parse_session_id, validate_name
from tether.domain.records import Project, Session, Turn, TurnKind
from tether.domain.states import TurnState
from tether.domain.text import shorten
from tether.engine.executables import check_path, checked_path
from tether.errors import Conflict, InvalidInput, ProviderError
from tether.ledger import projects, sessions, turns, workspaces
from tether.ledger.store import Ledger
from tether.workspaces import plan as workspace_plan
from tether.workspaces import worktree as workspace

MAX_PROMPT_BYTES = 1024 * 1024
TITLE_CHARS = 120


@dataclass(frozen=True)
class Accepted:
    session: Session
    turn: Turn
    created: bool  # False when an idempotency key returned an earlier turn


def _check_prompt(prompt: str) -> str:
    if not prompt.strip():
        raise InvalidInput("the message is empty")
    if len(prompt.encode("utf-8", "replace")) > MAX_PROMPT_BYTES:
        raise InvalidInput(f"the message is over {MAX_PROMPT_BYTES} bytes; put it in a file")
    return prompt


def spawn(
    config: Config,
    ledger: Ledger,
    prompt: str,
    project: str | None = None,
    cwd: Path | None = None,
    agent: str | None = None,
    model: str | None = None,
    by: str | None = None,
    key: str | None = None,
    worktree: bool | None = None,
    base: str | None = None,
    path_env: str | None = None,
) -> Accepted:
    """Create a session and its first turn in one transaction; ``by`` is who sent it.

    With a key seen before, return that spawn's session and first turn
    instead: a client that lost the answer (a daemon restart) retries safely.
    ``worktree`` None means the project's ``worktree`` setting decides.
    ``path_env`` is the sender's PATH, which the agent is found and run on.
    """
    _check_prompt(prompt)
    path_env = check_path(path_env)
    if key is not None:
        turns.check_key(key)
    plan = _worktree_plan(config, ledger, project, cwd, worktree, base)
    try:
        with ledger.db.write() as conn:
            earlier = _spawned(conn, key)
            if earlier is not None:
                return earlier
            owner = _owner(conn, project, cwd)
            chosen = check_agent(config, agent or owner.default_agent or config.defaults.agent)
            placed = None if ledger.db.is_sqlite else owner.host
            path_env = checked_path(
                config, conn, placed, chosen, owner.name, Path(owner.path), path_env
            )
            session = sessions.create(
                conn,
                owner,
                chosen,
                owner.path,
                model=model,
                title=shorten(prompt, TITLE_CHARS),
                spawn_key=key,
            )
            if plan is not None:
                session = workspace_plan.attach_plan(config, conn, session, plan)
            turn, _ = turns.add(conn, session, prompt, model=model, by=by, path_env=path_env)
        return Accepted(session, turn, True)
    except Conflict:
        with ledger.db.read() as conn:  # a concurrent spawn with the same key won the race
            earlier = _spawned(conn, key)
        if earlier is None:
            raise
        return earlier


def _spawned(conn: Connection, key: str | None) -> Accepted | None:
    session = None if key is None else sessions.find_by_spawn_key(conn, key)
    if session is None:
        return None
    return Accepted(session, turns.get(conn, f"{session.id}.1"), False)


def _worktree_plan(
    config: Config,
    ledger: Ledger,
    project: str | None,
    cwd: Path | None,
    worktree: bool | None,
    base: str | None,
) -> workspace.Plan | None:
    """Check (with git, before any transaction) that the session can have its worktree."""
    with ledger.db.read() as conn:
        owner = _owner(conn, project, cwd)
    if worktree is None:
        worktree = config.workspace_for(owner.name).worktree
    if base is not None and not worktree:
        raise InvalidInput("--base chooses where a worktree starts; add --worktree")
    return workspace.plan(owner, base) if worktree else None


def _owner(conn: Connection, project: str | None, cwd: Path | None) -> Project:
    if project is not None:
        return projects.get(conn, validate_name(project, "project name"))
    found = projects.find_by_path(conn, cwd or Path.cwd())
    if found is None:
        raise InvalidInput(
            f"{cwd or Path.cwd()} is in no project; pass --project or run "
            "`tether project add PATH` first"
        )
    return found


def send(
    config: Config,
    ledger: Ledger,
    session_id: str,
    prompt: str,
    key: str | None = None,
    by: str | None = None,
    path_env: str | None = None,
) -> Accepted:
    """Queue a follow-up; refused up front when the session can never resume.

    A session none of whose turns ever started has no thread yet: the next
    message starts it.
    """
    _check_prompt(prompt)
    path_env = check_path(path_env)
    session_id = str(parse_session_id(session_id))
    with ledger.db.write() as conn:
        session = sessions.get(conn, session_id)
        if not provider_for(config, session.agent).resumable:
            raise ProviderError(
                f"session {session.id} runs {session.agent}, which cannot resume a thread; "
                "start a new session with `tether spawn`"
            )
        _check_directory(session)
        started = [t for t in turns.for_session(conn, session.id) if t.phases.first_event]
        if session.native_id is None and started and started[-1].state.terminal:
            raise Conflict(
                f"session {session.id} has no captured {session.agent} native id "
                f"(its turn {started[-1].id} ran and ended {started[-1].state}); tether resumes "
                "by exact id only, so start a new session"
            )
        placed = None if ledger.db.is_sqlite else sessions.host_of(conn, session)
        path_env = checked_path(
            config,
            conn,
            placed,
            session.agent,
            session.project,
            Path(session.workspace),
            path_env,
        )
        turn, created = turns.add(conn, session, prompt, key=key, by=by, path_env=path_env)
    return Accepted(session, turn, created)


def _check_directory(session: Session) -> None:
    """Agents resume a thread in the directory it ran in; never in the daemon's own."""
    if not session.workspace:
        raise Conflict(
            f"session {session.id} has no known directory to resume its {session.agent} "
            f"thread in; `tether adopt {session.id}` looks for it"
        )


def attach(
    config: Config, ledger: Ledger, session_id: str, holder_pid: int, holder_ticks: int | None
) -> tuple[Turn, Launch]:
    """Take the session's lane for a human in the agent's own UI, resumed by exact id.

    The turn is written as running straight away, with the attaching process
    as its holder; queued messages wait until it ends.
    """
    session_id = str(parse_session_id(session_id))
    with ledger.db.write() as conn:
        session = sessions.get(conn, session_id)
        if session.native_id is None:
            raise Conflict(
                f"session {session.id} has no captured {session.agent} native id to attach to"
            )
        _check_directory(session)
        placed = None if ledger.db.is_sqlite else sessions.host_of(conn, session)
        if placed not in (None, config.host_name):
            raise Conflict(
                f"session {session.id} runs on host {placed}, where its {session.agent} thread "
                f"can be resumed: run `tether attach {session.id}` there"
            )
        busy = [
            t for t in turns.for_session(conn, session.id) if t.state.value in turns.LIVE_STATES
        ]
        if busy:
            raise Conflict(f"session {session.id} is busy with turn {busy[0].id} ({busy[0].state})")
        if workspaces.busy(conn, session.id):
            raise Conflict(
                f"the worktree of {session.id} is being prepared or checkpointed; attach again "
                "in a moment"
            )
        launch = provider_for(config, session.agent).interactive(
            TurnRequest(
                session_id=session.id,
                prompt="",
                workspace=Path(session.workspace),
                native_id=session.native_id,
                model=session.model,
                options=config.options_for(session.agent, session.project),
            )
        )
        turn, _ = turns.add(conn, session, f"(attached: {launch.argv[0]})", kind=TurnKind.ATTACHED)
        now = time.time()
        turns.transition(
            conn,
            turn.id,
            TurnState.DISPATCHED,
            dispatched_at=now,
            attempts=1,
            host=config.host_name,
        )
        turn = turns.transition(
            conn,
            turn.id,
            TurnState.RUNNING,
            spawned_at=now,
            runner_pid=holder_pid,
            runner_ticks=holder_ticks,
        )
    return turn, launch
