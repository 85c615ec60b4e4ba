"""The engine loop: one thread steps each live turn, checks attached holders, dispatches.

It wakes every ``POLL_S`` or when poked (a new turn, a cancel). All decisions
are written to the ledger before they take effect, so a daemon killed at any
point finds, on restart, either a live runner to reattach to, an exit status
to finalize, or a vanished runner to report as ``interrupted``. The concerns
live in their own modules (dispatch, progress, watchdog, endings, attached,
cancel, recovery) over one shared ``EngineContext``.
"""

import logging
import threading

from tether.agents.provider import Launch
from tether.config import Config
from tether.domain.records import Turn
from tether.engine import attached, dispatch, endings, ownership, progress, recovery, watchdog
from tether.engine.cancel import CancelResult, cancel
from tether.engine.context import Active, EngineContext
from tether.engine.procs import is_alive
from tether.engine.rundir import read_json
from tether.engine.wakeup import Listener
from tether.ledger import turns
from tether.ledger.store import Ledger
from tether.workspaces.worker import WorkspaceWorker

log = logging.getLogger("tether.engine")
POLL_S = 0.1
# With no turn running on SQLite, every new turn comes through this daemon's API
# (which pokes the loop) and every runner wakes it: a slow poll is only a net.
IDLE_POLL_S = 1.0
CANCEL_WAIT_S = 15.0


class Engine:
    def __init__(self, config: Config, ledger: Ledger) -> None:
        self.ctx = EngineContext(config, ledger)
        self.listener = Listener(config.runs_dir, self.ctx.wake.set)  # runners wake the loop
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        # worktrees: prepare, checkpoint; a prepared worktree may free a turn to dispatch
        self.workspaces = WorkspaceWorker(config, ledger, on_done=self.ctx.wake.set)

    @property
    def config(self) -> Config:
        return self.ctx.config

    @property
    def ledger(self) -> Ledger:
        return self.ctx.ledger

    @property
    def active(self) -> dict[str, Active]:
        return self.ctx.active

    @property
    def lock(self) -> threading.RLock:
        return self.ctx.lock

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        self.listener.start()
        recovery.recover(self.ctx)
        self.thread = threading.Thread(target=self._loop, name="tether-engine", daemon=True)
        self.thread.start()
        self.workspaces.start()

    def stop(self) -> None:
        """Stop supervising; runners go on and a later daemon reattaches to them."""
        self.stopping.set()
        self.ctx.wake.set()
        self.workspaces.stop()
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.listener.stop()
        self.ctx.spawner.close()

    def stop_runs(self) -> None:
        """Ask every runner this engine supervises to stop its agent (tests, benchmarks)."""
        for active in list(self.ctx.active.values()):
            watchdog.stop(active)

    def poke(self) -> None:
        """A turn was accepted or cancelled: dispatch, and prepare a worktree it may wait on."""
        self.ctx.wake.set()
        self.workspaces.poke()

    def _loop(self) -> None:
        """Never dies on an error: a stuck engine is exactly the silent loss tether prevents."""
        while not self.stopping.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("engine tick failed; retrying", extra={"action": "tick"})
            self.ctx.wake.wait(self._poll_s())
            self.ctx.wake.clear()

    def _poll_s(self) -> float:
        """Fast while turns run; on PostgreSQL a peer may queue a turn for this host at any time."""
        busy = bool(self.ctx.active) or not self.ctx.ledger.db.is_sqlite
        return POLL_S if busy else IDLE_POLL_S

    def tick(self) -> None:
        """Dispatch first: a turn just accepted waits for no other turn's bookkeeping."""
        with self.ctx.lock:
            dispatch.dispatch(self.ctx)
            running = len(self.ctx.active)
            for active in list(self.ctx.active.values()):
                try:
                    self._step(active)
                except Exception:
                    log.exception("turn %s: step failed", active.turn_id, extra={"action": "step"})
            attached.check(self.ctx)
            if len(self.ctx.active) < running:
                self.workspaces.poke()  # an ended turn's worktree gets its checkpoint now
                dispatch.dispatch(self.ctx)  # lanes that just ended take their next turn now

    def _step(self, active: Active) -> None:
        ctx = self.ctx
        if active.proc is not None:
            active.proc.poll()  # reap the runner if it ended
        progress.mark_spawned(ctx, active)
        progress.ingest_stream(ctx, active)
        exit_status = read_json(active.run.exit)
        if exit_status is not None:
            progress.ingest_stream(ctx, active, final=True)
            endings.on_exit(ctx, active, exit_status)
        elif not self._runner_alive(active) and read_json(active.run.exit) is None:
            endings.kill_orphan(active)
            endings.vanished(ctx, active)
        else:
            watchdog.watch(ctx, active)

    def _runner_alive(self, active: Active) -> bool:
        if active.proc is not None:
            return active.proc.poll() is None
        owned = ownership.held(active.run)
        if owned is not None:
            return owned
        with self.ctx.ledger.db.read() as conn:  # a runner started before ownership locks
            state = turns.run_state(conn, active.turn_id)
        return is_alive(state.runner_pid, state.runner_ticks)

    # -- the API's entry points ----------------------------------------------

    def attach(self, session_id: str, pid: int, ticks: int | None) -> tuple[Turn, Launch]:
        return attached.attach(self.ctx, session_id, pid, ticks)

    def finish_attached(self, turn_id: str, exit_code: int) -> Turn:
        return attached.finish(self.ctx, turn_id, exit_code)

    def cancel(self, turn_id: str, wait_s: float = CANCEL_WAIT_S) -> CancelResult:
        return cancel(self.ctx, turn_id, wait_s, self.tick)

    def recover(self) -> None:
        recovery.recover(self.ctx)
