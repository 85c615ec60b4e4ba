"""Rotating a full thread: a new native thread opened with a hand-off (invariant 6).

Before a turn is dispatched, the session's current thread is checked against
its budget (``[engine] rotate_at``, ``rotate_log_bytes``) and its overflow
mark. A rotation composes a hand-off from the ledger — the session's first
request, a digest of the latest exchanges within ``handoff_tokens``, the
workspace, and the pending message — stores it as a blob, records a
``rotated`` event and opens a pending thread whose first turn is this one.
The pending message is part of the hand-off, so it is delivered exactly once,
in the new thread. A turn that overflows in a thread it just opened fails
with both reasons; it is never rotated again on its own.
"""

from dataclasses import dataclass

from sqlalchemy import Connection

from tether.config import EngineSettings
from tether.domain.records import EventKind, Session, Turn
from tether.domain.states import TurnState
from tether.domain.threads import Budget, Decision, Thread, decide
from tether.errors import Conflict
from tether.ledger import events, sessions, threads, turns
from tether.ledger import history as ledger_history
from tether.ledger.blobs import BlobStore
from tether.ledger.events import NewEvent

CHARS_PER_TOKEN = 4  # a rough, conservative size estimate for prompt text
EXCHANGES_SCANNED = 50  # turns looked at for the digest, newest first
EVENTS_SCANNED = 2000
CONTEXT_FULL = "context full: "
MAX_COMPACTIONS_PER_TURN = 3
USER_REQUEST = "a rotation was requested (tether rotate)"
_REPLY_BREAKS = (EventKind.TOOL_CALL, EventKind.TOOL_RESULT)


def budget(engine: EngineSettings) -> Budget:
    return Budget(engine.rotate_at, engine.rotate_log_bytes, engine.on_overflow)


def plan(conn: Connection, engine: EngineSettings, session: Session) -> Decision | None:
    return decide(threads.current(conn, session.id), budget(engine))


@dataclass(frozen=True)
class Exchange:
    prompt: str
    reply: str


def _clip(text: str, tokens: int) -> str:
    limit = max(tokens, 0) * CHARS_PER_TOKEN
    return text if len(text) <= limit else text[:limit].rstrip() + " […]"


def _final_reply(found: list[tuple[EventKind, str]]) -> str:
    """The agent's last words in a turn: its messages after its last tool use."""
    tail: list[str] = []
    for kind, text in reversed(found):
        if kind in _REPLY_BREAKS and tail:
            break
        if kind is EventKind.MESSAGE:
            tail.append(text)
    return "".join(reversed(tail)).strip()


def _exchanges(conn: Connection, session: Session, before: int) -> list[Exchange]:
    """Earlier completed or failed turns with their final replies, newest first."""
    earlier = [
        t
        for t in turns.for_session(conn, session.id)
        if t.number < before and t.state.terminal and t.state is not TurnState.CANCELLED
    ][-EXCHANGES_SCANNED:]
    by_turn: dict[str, list[tuple[EventKind, str]]] = {t.id: [] for t in earlier}
    for event in events.of_turns(conn, session.id, list(by_turn), EVENTS_SCANNED):
        if event.turn_id in by_turn:
            by_turn[event.turn_id].append((event.kind, event.preview))
    return [Exchange(t.prompt, _final_reply(by_turn[t.id])) for t in reversed(earlier)]


def compose(
    conn: Connection, session: Session, turn: Turn, old: Thread, reason: str, tokens: int
) -> str:
    """The hand-off prompt: bounded, newest exchanges kept first, read oldest first."""
    first = turns.for_session(conn, session.id)[0]
    digest: list[str] = []
    left = tokens
    for exchange in _exchanges(conn, session, turn.number):
        if left <= 0:
            break
        share = max(left // 2, 64)
        text = (
            f"--- the user\n{_clip(exchange.prompt, share // 2)}\n"
            f"--- you\n{_clip(exchange.reply or '(no reply recorded)', share // 2)}"
        )
        digest.append(text)
        left -= len(text) // CHARS_PER_TOKEN
    parts = [
        f"[tether] This is session {session.id}, continued in a new {session.agent} thread: "
        f"the previous thread ({old.native_id}) was rotated because {reason}. "
        "Below is what tether recorded of it; the files in the workspace are as they were.",
        f"Workspace: {session.workspace}",
        f"The session's first request:\n{_clip(first.prompt, max(tokens // 4, 64))}",
    ]
    if digest:
        parts.append("The latest exchanges, oldest first:\n" + "\n".join(reversed(digest)))
    parts.append(f"The message to answer now:\n{turn.prompt}")
    return "\n\n".join(parts)


def rotate(
    conn: Connection,
    blobs: BlobStore,
    session: Session,
    turn: Turn,
    reason: str,
    tokens: int,
) -> Thread:
    """Record the rotation (hand-off blob, ``rotated`` event, new pending thread)."""
    old = threads.ensure_current(conn, session)
    handoff = compose(conn, session, turn, old, reason, tokens)
    ref = blobs.put(handoff.encode("utf-8"))
    _, new = threads.rotate(conn, session, reason, turn.number, ref.sha256)
    text = f"rotated from {session.agent} thread {old.native_id}: {reason}"
    data = {
        "old_native_id": old.native_id,
        "reason": reason,
        "handoff_blob": ref.sha256,
        "handoff_bytes": ref.size,
        "thread": new.ordinal,
    }
    event = NewEvent(session.id, EventKind.ROTATED, text, turn_id=turn.id, data=data)
    events.insert_rows(conn, [events.row_for(event, blobs)])
    return new


def handoff_prompt(conn: Connection, blobs: BlobStore, session: Session, turn: Turn) -> str:
    """The prompt to launch: the hand-off when this turn opened the current thread."""
    thread = threads.current(conn, session.id)
    if thread is not None and thread.first_turn == turn.number and thread.handoff_blob:
        return blobs.get(thread.handoff_blob).decode("utf-8", "replace")
    return turn.prompt


def thread_started(conn: Connection, session: Session, turn: Turn) -> bool:
    """Whether the current thread exists already (resume) or not (new).

    It does when an earlier turn ran in it, or when its id was found in the
    agent's own logs: an external session, adopted or not, was started outside
    tether, and a new thread would not be the one its id names.
    """
    thread = threads.current(conn, session.id)
    start = thread.first_turn if thread is not None else 0
    if any(
        start <= t.number < turn.number and t.phases.first_event is not None
        for t in turns.for_session(conn, session.id)
    ):
        return True
    native_id = session.native_id  # the current thread's
    return native_id is not None and ledger_history.found_in_logs(conn, session.agent, native_id)


def compaction_loop(compactions: int) -> str | None:
    """The words for a turn that keeps compacting without finishing (opencode #27924)."""
    if compactions <= MAX_COMPACTIONS_PER_TURN:
        return None
    return (
        f"the agent compacted its thread {compactions} times in one turn without finishing "
        "(a compaction loop)"
    )


def context_failure(conn: Connection, session: Session, turn: Turn, words: str) -> str:
    """Mark the thread for rotation; the turn's reason, ``context full: …``.

    A turn that overflows in the thread it just opened carries the reason the
    old thread ended too: both reasons, and no further rotation of its own.
    """
    reason = CONTEXT_FULL + words
    history = threads.for_session(conn, session.id)
    if len(history) > 1 and history[-1].first_turn == turn.number:
        old = history[-2].end_reason
        reason += f" (in the new thread this turn opened; the old one ended: {old})"
    threads.overflowed(conn, session, reason)
    return reason


def before_dispatch(
    conn: Connection, blobs: BlobStore, engine: EngineSettings, turn: Turn, session: Session
) -> str | None:
    """Rotate the session's thread if it is due; the reason to fail the turn, if refused."""
    decision = plan(conn, engine, session)
    if decision is None:
        return None
    if not decision.rotate:
        return decision.reason
    rotate(conn, blobs, session, turn, decision.reason, engine.handoff_tokens)
    return None


def request(conn: Connection, session_id: str) -> Thread:
    """``tether rotate``: the session's next turn opens a new thread, with a hand-off."""
    session = sessions.get(conn, session_id)
    if session.native_id is None:
        raise Conflict(
            f"session {session.id} has no native thread to rotate yet; its next turn "
            "starts one anyway"
        )
    return threads.request_rotation(conn, session, USER_REQUEST)
