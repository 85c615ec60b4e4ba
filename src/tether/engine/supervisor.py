"""The engine loop: dispatch queued turns, tail runners, watch the clock, recover.

One thread owns all of it and wakes every ``POLL_S`` or when poked (a new
turn, a cancel). All decisions are written to the ledger before they take
effect, so a daemon killed at any point finds, on restart, either a live
runner to reattach to, an exit status to finalize, or a vanished runner to
report as ``interrupted``.
"""

import logging
import signal
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import Connection

from tether.agents.provider import Launch, Provider, TurnRequest
from tether.agents.registry import provider_for
from tether.config import Config
from tether.domain.ids import parse_turn_id
from tether.domain.records import EventKind, Origin, Session, Turn, TurnKind, Usage
from tether.domain.states import TurnState
from tether.domain.stream import Outcome, StreamParser
from tether.engine import accept, ingest
from tether.engine.cancel import CancelOutcome, CancelResult
from tether.engine.procs import is_alive, signal_group, signal_process
from tether.engine.rundir import RunDir, read_json, write_json
from tether.engine.spawn import start_runner
from tether.errors import Conflict, NotFound, TetherError
from tether.ledger import events, history, sessions, turns
from tether.ledger.events import NewEvent
from tether.ledger.store import Ledger

log = logging.getLogger("tether.engine")
POLL_S = 0.1
CANCEL_WAIT_S = 15.0


@dataclass
class Active:
    """What the engine keeps in memory about a live turn; all of it can be rebuilt."""

    turn_id: str
    session_id: str
    parser: StreamParser
    run: RunDir
    attempt: int
    attempt_started: float
    proc: subprocess.Popen[bytes] | None = None
    retry_reason: str | None = None
    stop_sent: float | None = None
    attempt_reasons: list[str] = field(default_factory=list)

    @property
    def source(self) -> ingest.StreamSource:
        return ingest.StreamSource(self.session_id, self.turn_id, self.attempt, self.run)


class Engine:
    def __init__(self, config: Config, ledger: Ledger) -> None:
        self.config = config
        self.ledger = ledger
        self.active: dict[str, Active] = {}
        self.attached: dict[str, tuple[int | None, int | None]] = {}  # turn → holder pid, ticks
        self.lock = threading.RLock()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        self.recover()
        self.thread = threading.Thread(target=self._loop, name="tether-engine", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop supervising; runners go on and a later daemon reattaches to them."""
        self.stopping.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout=10)

    def poke(self) -> None:
        self.wake.set()

    def _loop(self) -> None:
        """Never dies on an error: a stuck engine is exactly the silent loss tether prevents."""
        while not self.stopping.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("engine tick failed; retrying", extra={"action": "tick"})
            self.wake.wait(POLL_S)
            self.wake.clear()

    def tick(self) -> None:
        with self.lock:
            for active in list(self.active.values()):
                try:
                    self._step(active)
                except Exception:
                    log.exception("turn %s: step failed", active.turn_id, extra={"action": "step"})
            self._check_attached()
            self._dispatch()

    # -- attach --------------------------------------------------------------

    def attach(self, session_id: str, pid: int, ticks: int | None) -> tuple[Turn, Launch]:
        with self.lock:
            turn, launch = accept.attach(self.config, self.ledger, session_id, pid, ticks)
            self.attached[turn.id] = (pid, ticks)
        return turn, launch

    def finish_attached(self, turn_id: str, exit_code: int) -> Turn:
        parse_turn_id(turn_id)
        with self.lock, self.ledger.db.write() as conn:
            turn = turns.get(conn, turn_id)
            if turn.kind is not TurnKind.ATTACHED:
                raise Conflict(f"turn {turn_id} is not an attached turn")
            self.attached.pop(turn_id, None)
            if turn.state.terminal:
                return turn
            if exit_code == 0:
                done = turns.transition(conn, turn_id, TurnState.COMPLETED, reason="detached")
            else:
                reason = f"the interactive session exited with status {exit_code}"
                done = turns.transition(conn, turn_id, TurnState.FAILED, reason=reason)
        self.wake.set()
        return done

    def _check_attached(self) -> None:
        for turn_id, (pid, ticks) in list(self.attached.items()):
            if is_alive(pid, ticks):
                continue
            self.attached.pop(turn_id)
            with self.ledger.db.write() as conn:
                if not turns.get(conn, turn_id).state.terminal:
                    turns.transition(
                        conn,
                        turn_id,
                        TurnState.INTERRUPTED,
                        reason="the attached terminal went away without reporting how it ended",
                    )

    # -- cancel ----------------------------------------------------------------

    def cancel(self, turn_id: str, wait_s: float = CANCEL_WAIT_S) -> CancelResult:
        """Stop a turn and say what happened; never report ``cancelled`` on a hope."""
        parse_turn_id(turn_id)
        with self.lock:
            try:
                with self.ledger.db.write() as conn:
                    turn = turns.get(conn, turn_id)
                    if turn.state.terminal:
                        return CancelResult(CancelOutcome.ALREADY_FINISHED, turn_id, turn.state)
                    if turn.state is TurnState.QUEUED:
                        turns.transition(
                            conn, turn_id, TurnState.CANCELLED, reason="cancelled before it ran"
                        )
                        return CancelResult(CancelOutcome.CANCELLED, turn_id, TurnState.CANCELLED)
            except NotFound:
                return CancelResult(CancelOutcome.NOT_FOUND, turn_id)
            active = self.active.get(turn_id)
            if active is None:
                return CancelResult(
                    CancelOutcome.COULD_NOT_STOP,
                    turn_id,
                    turn.state,
                    "the turn is not supervised by this daemon (another host's, or mid-recovery)",
                )
            self._decide(active, TurnState.CANCELLED, "cancelled by user")
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            self.tick()
            with self.ledger.db.read() as conn:
                turn = turns.get(conn, turn_id)
            if turn.state.terminal:
                return CancelResult(CancelOutcome.CANCELLED, turn_id, turn.state, turn.reason)
            time.sleep(POLL_S)
        return CancelResult(
            CancelOutcome.COULD_NOT_STOP,
            turn_id,
            turn.state,
            f"the agent's process group was signalled but had not exited after {wait_s:g}s; "
            "the turn will end cancelled when it does",
        )

    # -- recovery ------------------------------------------------------------

    def recover(self) -> None:
        """Rebuild the in-memory view of live turns from the ledger and the run dirs."""
        with self.ledger.db.read() as conn:
            live = turns.live(conn)
            states = {t.id: turns.run_state(conn, t.id) for t in live}
        for turn in live:
            if turn.kind is TurnKind.ATTACHED:
                state = states[turn.id]
                self.attached[turn.id] = (state.runner_pid, state.runner_ticks)
                continue
            with self.ledger.db.read() as conn:
                session = sessions.get(conn, turn.session_id)
            run = self._run_dir(turn.id)
            runner = read_json(run.runner) or {}
            active = Active(
                turn.id,
                turn.session_id,
                self._provider(session).parser(),
                run,
                turn.attempts,
                float(runner.get("started_at") or turn.phases.dispatched or time.time()),
            )
            self.active[turn.id] = active
            if states[turn.id].runner_pid is None:
                self._respawn(active, "the daemon stopped before the runner started")
            log.info("reattached", extra={"action": "recover", "turn": turn.id})

    # -- dispatch ------------------------------------------------------------

    def _dispatch(self) -> None:
        with self.ledger.db.read() as conn:
            room = self.config.engine.max_parallel - turns.count_live(conn)
            candidates = turns.next_dispatchable(conn, room) if room > 0 else []
        for turn in candidates:
            self._dispatch_one(turn)

    def _dispatch_one(self, turn: Turn) -> None:
        with self.ledger.db.read() as conn:
            session = sessions.get(conn, turn.session_id)
            model = turns.run_state(conn, turn.id).model or session.model
        try:
            provider = self._provider(session)
            launch = self._launch(provider, session, turn, model)
        except TetherError as exc:
            with self.ledger.db.write() as conn:
                turns.transition(conn, turn.id, TurnState.FAILED, reason=str(exc))
            return
        now = time.time()
        try:
            with self.ledger.db.write() as conn:
                turns.transition(conn, turn.id, TurnState.DISPATCHED, dispatched_at=now, attempts=1)
                if launch.native_id and session.native_id is None:
                    sessions.bind_native_id(conn, session, launch.native_id)
        except Conflict as exc:
            with self.ledger.db.write() as conn:
                turns.transition(conn, turn.id, TurnState.FAILED, reason=str(exc))
            return
        active = Active(turn.id, session.id, provider.parser(), self._run_dir(turn.id), 1, now)
        self.active[turn.id] = active
        self._spawn(active, launch)

    def _launch(
        self, provider: Provider, session: Session, turn: Turn, model: str | None
    ) -> Launch:
        request = TurnRequest(
            session_id=session.id,
            prompt=turn.prompt,
            workspace=Path(session.workspace),
            native_id=session.native_id,
            model=model,
            options=self.config.options_for(session.agent, session.project),
        )
        with self.ledger.db.read() as conn:
            earlier = [t for t in turns.for_session(conn, session.id) if t.number < turn.number]
        if not any(t.phases.first_event is not None for t in earlier):
            # Nothing has run in this thread yet: start it (with the pre-assigned id, if any).
            return provider.new_turn(request)
        if session.native_id is None:
            raise Conflict(
                f"cannot resume session {session.id}: its {session.agent} native id was never "
                "captured, and tether does not guess (no --last / --continue)"
            )
        return provider.resume_turn(request)

    def _spawn(self, active: Active, launch: Launch) -> None:
        try:
            proc, ticks = start_runner(active.run, launch)
        except TetherError as exc:
            try:  # recorded like any start failure, so it is retried the same way
                write_json(active.run.exit, {"spawn_error": str(exc)})
            except OSError:
                self._finish(active, TurnState.FAILED, str(exc))
            return
        active.proc = proc
        with self.ledger.db.write() as conn:
            turns.update_fields(
                conn, active.turn_id, {"runner_pid": proc.pid, "runner_ticks": ticks}
            )

    def _respawn(self, active: Active, reason: str) -> None:
        with self.ledger.db.read() as conn:
            session = sessions.get(conn, active.session_id)
            turn = turns.get(conn, active.turn_id)
            model = turns.run_state(conn, turn.id).model or session.model
        try:
            launch = self._launch(self._provider(session), session, turn, model)
        except TetherError as exc:
            self._finish(active, TurnState.FAILED, str(exc))
            return
        self._note(active, reason)
        self._spawn(active, launch)

    # -- one live turn -------------------------------------------------------

    def _step(self, active: Active) -> None:
        if active.proc is not None:
            active.proc.poll()  # reap the runner if it ended
        self._mark_spawned(active)
        self._ingest(active)
        exit_status = read_json(active.run.exit)
        if exit_status is not None:
            self._ingest(active, final=True)
            self._on_exit(active, exit_status)
        elif not self._runner_alive(active) and read_json(active.run.exit) is None:
            self._kill_orphan(active)
            self._vanished(active)
        else:
            self._watch(active)

    def _runner_alive(self, active: Active) -> bool:
        if active.proc is not None:
            return active.proc.poll() is None
        with self.ledger.db.read() as conn:
            state = turns.run_state(conn, active.turn_id)
        return is_alive(state.runner_pid, state.runner_ticks)

    def _mark_spawned(self, active: Active) -> None:
        runner = read_json(active.run.runner)
        if runner is None or "spawned_at" not in runner:
            return
        with self.ledger.db.write() as conn:
            if turns.get(conn, active.turn_id).state is TurnState.DISPATCHED:
                turns.transition(
                    conn, active.turn_id, TurnState.RUNNING, spawned_at=runner["spawned_at"]
                )

    def _ingest(self, active: Active, final: bool = False) -> None:
        with self.ledger.db.read() as conn:
            offset = turns.run_state(conn, active.turn_id).stream_offset
        batch = ingest.read(
            active.source,
            offset,
            active.parser,
            self.ledger.blobs,
            self.config.engine.preview_bytes,
            final=final,
        )
        if batch.end == offset:
            return
        with self.ledger.db.write() as conn:
            self._apply(conn, active, batch)

    def _apply(self, conn: Connection, active: Active, batch: ingest.Batch) -> None:
        """Store one batch and everything it implies, in one transaction.

        A native id that contradicts the session's, or a stream that reports
        failure, records the ``failed`` outcome; the watchdog then stops the
        agent and its exit applies the outcome.
        """
        events.insert_rows(conn, batch.rows)
        turn = turns.get(conn, active.turn_id)
        state = turns.run_state(conn, active.turn_id)
        values: dict[str, object] = {"stream_offset": batch.end}
        now = time.time()
        if batch.events:
            values.update(last_progress_at=now, stalled_at=None)
            if turn.phases.first_event is None:
                values["first_event_at"] = now
        if batch.outputs and turn.phases.first_output is None:
            values["first_output_at"] = now
        usage = self._usage(conn, turn, batch)
        if usage != turn.usage:
            values.update(asdict(usage))
        if batch.model:
            values["model"] = batch.model
            sessions.set_model(conn, active.session_id, batch.model)
        failure = self._bind(conn, active, batch.native_ids) or (
            (batch.error or "the agent reported a failure")
            if batch.outcome is Outcome.FAILED
            else None
        )
        if failure and state.outcome is None:
            values.update(outcome=TurnState.FAILED.value, reason=failure)
        turns.update_fields(conn, active.turn_id, values)

    def _usage(self, conn: Connection, turn: Turn, batch: ingest.Batch) -> Usage:
        """Per-turn usage; a thread total (Codex) becomes this turn's share of it."""
        if batch.cumulative is None:
            return turn.usage + batch.usage
        earlier = Usage()
        for other in turns.for_session(conn, turn.session_id):
            if other.number < turn.number:
                earlier = earlier + other.usage
        return batch.cumulative.minus(earlier)

    def _bind(self, conn: Connection, active: Active, native_ids: list[str]) -> str | None:
        for native_id in native_ids:
            session = sessions.get(conn, active.session_id)
            holder = sessions.find_by_native_id(conn, session.agent, native_id)
            if (
                holder is not None
                and holder.origin is Origin.EXTERNAL
                and session.native_id is None
            ):
                # The history indexer saw this thread's log before the stream named it:
                # the thread is this session's, so take the external record over.
                history.move_session(conn, holder.id, session.id, native_id)
                continue
            try:
                sessions.bind_native_id(conn, session, native_id)
            except Conflict as exc:
                return str(exc)
        return None

    # -- the watchdog ------------------------------------------------------------

    def _watch(self, active: Active) -> None:
        engine = self.config.engine
        now = time.time()
        with self.ledger.db.read() as conn:
            turn = turns.get(conn, active.turn_id)
            state = turns.run_state(conn, active.turn_id)
        if state.outcome is not None:
            self._stop(active)
            return
        if turn.phases.first_event is None:
            if now - active.attempt_started > engine.start_timeout_s:
                active.retry_reason = f"no event from the agent within {engine.start_timeout_s:g}s"
                self._stop(active)
            return
        if turn.phases.dispatched and now - turn.phases.dispatched > engine.max_turn_s:
            self._decide(
                active, TurnState.TIMED_OUT, f"turn exceeded max_turn_s={engine.max_turn_s:g}s"
            )
            return
        last = turn.phases.last_progress or turn.phases.first_event
        if state.stalled_at is None and now - last > engine.idle_timeout_s:
            with self.ledger.db.write() as conn:
                turns.update_fields(conn, active.turn_id, {"stalled_at": now})
            self._note(active, f"stalled: no progress for {engine.idle_timeout_s:g}s")
        elif state.stalled_at is not None and now - state.stalled_at > engine.abort_after_s:
            quiet = engine.idle_timeout_s + engine.abort_after_s
            self._decide(active, TurnState.TIMED_OUT, f"no progress from the agent for {quiet:g}s")

    def _decide(self, active: Active, target: TurnState, reason: str) -> None:
        """Record the terminal state first, then stop the process; exit applies it."""
        with self.ledger.db.write() as conn:
            if turns.run_state(conn, active.turn_id).outcome is None:
                turns.update_fields(
                    conn, active.turn_id, {"outcome": target.value, "reason": reason}
                )
        self._stop(active)

    def _vanished(self, active: Active) -> None:
        """No runner and no exit status: a decided stop ends as decided, else interrupted."""
        with self.ledger.db.read() as conn:
            turn = turns.get(conn, active.turn_id)
            decided = turns.run_state(conn, active.turn_id).outcome
        if decided is not None:
            self._finish(active, TurnState(decided), turn.reason or decided)
            return
        self._finish(
            active,
            TurnState.INTERRUPTED,
            "the runner process vanished without recording an exit status "
            "(machine restart or killed); the agent's work may be incomplete",
        )

    def _kill_orphan(self, active: Active) -> None:
        """A runner that died leaves its agent's group behind: end it, if it is still that one."""
        runner = read_json(active.run.runner) or {}
        pid, ticks = runner.get("agent_pid"), runner.get("agent_ticks")
        if isinstance(pid, int) and is_alive(pid, ticks if isinstance(ticks, int) else None):
            signal_group(pid, signal.SIGKILL)

    def _stop(self, active: Active) -> None:
        if active.stop_sent is not None:
            return
        runner = read_json(active.run.runner) or {}
        pid = runner.get("pid") or (active.proc.pid if active.proc else None)
        if pid is not None:
            signal_process(int(pid), signal.SIGTERM)
        active.stop_sent = time.time()

    # -- endings -----------------------------------------------------------------

    def _on_exit(self, active: Active, status: dict[str, object]) -> None:
        with self.ledger.db.read() as conn:
            turn = turns.get(conn, active.turn_id)
            state = turns.run_state(conn, active.turn_id)
        code = status.get("code")
        if state.outcome is None and turn.phases.first_event is None:
            reason = (
                active.retry_reason
                or status.get("spawn_error")
                or f"agent exited with status {code} before its first event{self._stderr(active)}"
            )
            if self._retry(active, turn, str(reason)):
                return
            attempts = f"{turn.attempts} attempt{'s' if turn.attempts != 1 else ''}"
            self._finish(active, TurnState.FAILED, f"agent never started ({attempts}): {reason}")
        elif state.outcome is not None:
            self._finish(active, TurnState(state.outcome), turn.reason or state.outcome)
        elif code != 0:
            ended = f"status {code}" if code is not None else f"signal {status.get('signal')}"
            self._finish(
                active, TurnState.FAILED, f"agent exited with {ended}{self._stderr(active)}"
            )
        else:
            self._finish(active, TurnState.COMPLETED, "agent finished")

    def _retry(self, active: Active, turn: Turn, reason: str) -> bool:
        if turn.attempts > self.config.engine.start_retries:
            return False
        active.run.archive_attempt(turn.attempts)
        active.attempt += 1
        active.attempt_started = time.time()
        active.retry_reason = active.stop_sent = active.proc = None
        with self.ledger.db.write() as conn:
            turns.update_fields(
                conn,
                turn.id,
                {
                    "attempts": active.attempt,
                    "stream_offset": 0,
                    "runner_pid": None,
                    "runner_ticks": None,
                },
            )
        active.parser = self._provider_of(active).parser()
        self._respawn(active, f"attempt {turn.attempts} failed: {reason}; retrying")
        return True

    def _finish(self, active: Active, target: TurnState, reason: str) -> None:
        with self.ledger.db.write() as conn:
            turn = turns.get(conn, active.turn_id)
            if not turn.state.terminal:
                if turn.state is TurnState.QUEUED:
                    turns.transition(conn, turn.id, TurnState.DISPATCHED)
                turns.transition(conn, turn.id, target, reason=reason)
        self.active.pop(active.turn_id, None)
        log.info("turn %s %s: %s", active.turn_id, target, reason, extra={"action": "finish"})
        self.wake.set()

    def _stderr(self, active: Active) -> str:
        lines = [line for line in active.run.stderr_text().splitlines() if line.strip()]
        return f": {lines[-1][:500]}" if lines else ""

    def _note(self, active: Active, text: str) -> None:
        row = events.row_for(
            NewEvent(active.session_id, EventKind.STATUS, text, turn_id=active.turn_id),
            self.ledger.blobs,
        )
        with self.ledger.db.write() as conn:
            events.insert_rows(conn, [row])

    # -- helpers -----------------------------------------------------------------

    def _provider(self, session: Session) -> Provider:
        return provider_for(self.config, session.agent)

    def _provider_of(self, active: Active) -> Provider:
        with self.ledger.db.read() as conn:
            return self._provider(sessions.get(conn, active.session_id))

    def _run_dir(self, turn_id: str) -> RunDir:
        return RunDir(self.config.runs_dir / turn_id)
