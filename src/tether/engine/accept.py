"""Accepting work: a message becomes a queued turn in the ledger before anything runs.

This is invariant 6's first half: once ``spawn`` or ``send`` returns a turn
id, the turn is committed and will end in a terminal state, whatever happens
to the daemon in between.
"""

from dataclasses import dataclass
from pathlib import Path

from tether.agents.registry import check_agent, provider_for
from tether.config import Config
from tether.domain.ids import parse_session_id, validate_name
from tether.domain.records import Session, Turn
from tether.errors import Conflict, InvalidInput, ProviderError
from tether.ledger import projects, sessions, turns
from tether.ledger.store import Ledger

MAX_PROMPT_BYTES = 1024 * 1024


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
) -> Accepted:
    """Create a session and its first turn in one transaction."""
    _check_prompt(prompt)
    with ledger.db.write() as conn:
        if project is not None:
            owner = projects.get(conn, validate_name(project, "project name"))
        else:
            found = projects.find_by_path(conn, cwd or Path.cwd())
            if found is None:
                raise InvalidInput(
                    f"{cwd or Path.cwd()} is in no project; pass --project or run "
                    "`tether project add PATH` first"
                )
            owner = found
        chosen = check_agent(config, agent or owner.default_agent or config.defaults.agent)
        session = sessions.create(conn, owner, chosen, owner.path, model=model, title=prompt[:120])
        turn, _ = turns.add(conn, session, prompt, model=model)
    return Accepted(session, turn, True)


def send(
    config: Config, ledger: Ledger, session_id: str, prompt: str, key: str | None = None
) -> Accepted:
    """Queue a follow-up; refused up front when the session can never resume."""
    _check_prompt(prompt)
    session_id = str(parse_session_id(session_id))
    with ledger.db.write() as conn:
        session = sessions.get(conn, session_id)
        if not provider_for(config, session.agent).resumable:
            raise ProviderError(
                f"session {session.id} runs {session.agent}, which cannot resume a thread; "
                "start a new session with `tether spawn`"
            )
        latest = turns.latest(conn, session.id)
        if session.native_id is None and latest is not None and latest.state.terminal:
            raise Conflict(
                f"session {session.id} has no captured {session.agent} native id "
                f"(its last turn {latest.id} ended {latest.state}); tether resumes by exact id "
                "only, so start a new session"
            )
        turn, created = turns.add(conn, session, prompt, key=key)
    return Accepted(session, turn, created)
