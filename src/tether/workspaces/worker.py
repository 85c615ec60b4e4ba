"""The workspace worker: prepares planned worktrees and records checkpoints after turns.

A small pool runs the git work so that one project's long ``npm ci`` does
not hold up another session's checkpoint; one job per session at a time,
and ``exclusive`` lets merge, PR and archive wait their turn on a session.
Everything it needs is in the ledger, so a restarted daemon picks up where
a killed one stopped.
"""

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial

from tether.config import Config
from tether.ledger import workspaces
from tether.ledger.store import Ledger
from tether.workspaces import prepare, recorder

log = logging.getLogger("tether.workspaces")
# The engine pokes the worker when a turn is accepted or ends; the poll is a net for
# what it cannot see (a peer host queueing a turn for a worktree on this one).
POLL_S = 1.0
POOL_SIZE = 4


class WorkspaceWorker:
    def __init__(self, config: Config, ledger: Ledger, on_done: Callable[[], None]) -> None:
        self.config = config
        self.ledger = ledger
        self.on_done = on_done  # a finished job may unblock a turn: the engine looks again
        self.busy: set[str] = set()
        self.changed = threading.Condition()
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.pool: ThreadPoolExecutor | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.pool = ThreadPoolExecutor(POOL_SIZE, thread_name_prefix="tether-workspace")
        self.thread = threading.Thread(target=self._loop, name="tether-workspaces", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)

    def poke(self) -> None:
        self.wake.set()

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("workspace tick failed; retrying", extra={"action": "tick"})
            self.wake.wait(POLL_S)
            self.wake.clear()

    def tick(self) -> None:
        with self.ledger.db.read() as conn:
            pending = workspaces.needing_preparation(conn, self.config.host_name)
            ended = workspaces.needing_checkpoint(conn, self.config.host_name)
        for ws in pending:
            self._submit(ws.session_id, partial(prepare.prepare, self.config, self.ledger, ws))
        for ws, upto in ended:
            self._submit(
                ws.session_id, partial(recorder.record, self.config, self.ledger, ws, upto)
            )

    def _submit(self, session_id: str, job: Callable[[], None]) -> None:
        with self.changed:
            if session_id in self.busy or self.pool is None:
                return
            self.busy.add(session_id)
        self.pool.submit(self._run, session_id, job)

    def _run(self, session_id: str, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:
            log.exception("workspace job failed", extra={"action": "job", "session": session_id})
        finally:
            self._release(session_id)

    def _release(self, session_id: str) -> None:
        with self.changed:
            self.busy.discard(session_id)
            self.changed.notify_all()
        self.wake.set()
        self.on_done()

    @contextmanager
    def exclusive(self, session_id: str) -> Iterator[None]:
        """Hold the session's workspace: no checkpoint or setup runs on it meanwhile."""
        with self.changed:
            self.changed.wait_for(lambda: session_id not in self.busy)
            self.busy.add(session_id)
        try:
            yield
        finally:
            self._release(session_id)
