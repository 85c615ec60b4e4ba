"""What the engine's modules share: the ledger, the live turns in memory, the wake-up.

Every engine module (dispatch, progress, watchdog, endings, attached,
cancel, recovery) takes an ``EngineContext`` and nothing else, so a new
concern (thread rotation, workspaces, multi-host claims) is a new module
working on the same context rather than more methods on one class.
"""

import logging
import subprocess
import threading
from dataclasses import dataclass, field

from tether.agents.provider import Provider
from tether.agents.registry import provider_for
from tether.config import Config
from tether.domain.records import EventKind, Session
from tether.domain.states import TurnState
from tether.domain.stream import StreamParser
from tether.engine.ingest import StreamSource
from tether.engine.rundir import RunDir
from tether.engine.spawn import Spawner
from tether.ledger import events, sessions, threads, turns
from tether.ledger.events import NewEvent
from tether.ledger.store import Ledger

log = logging.getLogger("tether.engine")


@dataclass
class Active:
    """What the engine keeps in memory about a live turn; all of it can be rebuilt."""

    turn_id: str
    session_id: str
    parser: StreamParser
    run: RunDir
    attempt: int
    attempt_started: float
    proc: subprocess.Popen[bytes] | None = None  # when the daemon is the runner's parent
    runner_pid: int | None = None
    spawned: bool = False  # the ledger says running: no need to look at runner.json again
    offset: int | None = None  # the stream offset last stored; None: read it from the ledger
    retry_reason: str | None = None
    stop_sent: float | None = None
    attempt_reasons: list[str] = field(default_factory=list)
    compactions: int = 0  # seen in this turn's stream
    overflow_seen: str | None = None  # an overflow the agent tried to recover from itself

    @property
    def source(self) -> StreamSource:
        return StreamSource(self.session_id, self.turn_id, self.attempt, self.run)


@dataclass
class EngineContext:
    config: Config
    ledger: Ledger
    active: dict[str, Active] = field(default_factory=dict)
    attached: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    wake: threading.Event = field(default_factory=threading.Event)
    spawner: Spawner = field(init=False)

    def __post_init__(self) -> None:
        self.spawner = Spawner(self.config.runs_dir)

    def run_dir(self, turn_id: str) -> RunDir:
        return RunDir(self.config.runs_dir / turn_id)

    def provider(self, session: Session) -> Provider:
        return provider_for(self.config, session.agent)

    def provider_of(self, active: Active) -> Provider:
        with self.ledger.db.read() as conn:
            return self.provider(sessions.get(conn, active.session_id))

    def note(self, active: Active, text: str) -> None:
        """A status event on the turn's timeline (a retry, a stall)."""
        row = events.row_for(
            NewEvent(active.session_id, EventKind.STATUS, text, turn_id=active.turn_id),
            self.ledger.blobs,
        )
        with self.ledger.db.write() as conn:
            events.insert_rows(conn, [row])

    def finish(self, active: Active, target: TurnState, reason: str) -> None:
        """Write the terminal state (once) and forget the turn; its lane frees up."""
        with self.ledger.db.write() as conn:
            turn = turns.get(conn, active.turn_id)
            if not turn.state.terminal:
                if turn.state is TurnState.QUEUED:
                    turns.transition(conn, turn.id, TurnState.DISPATCHED)
                turns.transition(conn, turn.id, target, reason=reason)
                if target is TurnState.COMPLETED:
                    threads.completed(conn, sessions.get(conn, turn.session_id))
        self.active.pop(active.turn_id, None)
        log.info("turn %s %s: %s", active.turn_id, target, reason, extra={"action": "finish"})
        self.wake.set()
