"""Making a planned worktree ready: check it out, copy files in, run the project's setup.

A failure fails the session's oldest queued turn with what went wrong (the
command and its exit status); the next queued turn tries again from where
this one stopped, so fixing the project and sending again is enough.
"""

import logging
from contextlib import suppress
from pathlib import Path

from tether.config import Config
from tether.domain.records import EventKind
from tether.domain.states import TurnState
from tether.domain.workspace import Workspace, WorkspaceState
from tether.errors import IllegalTransition, TetherError
from tether.ledger import events, projects, sessions, turns, workspaces
from tether.ledger.events import NewEvent
from tether.ledger.store import Ledger
from tether.workspaces import worktree

log = logging.getLogger("tether.workspaces")


def prepare(config: Config, ledger: Ledger, ws: Workspace) -> None:
    with ledger.db.read() as conn:
        session = sessions.get(conn, ws.session_id)
        project = projects.get(conn, session.project)
        waiting = [t for t in turns.for_session(conn, ws.session_id) if t.state is TurnState.QUEUED]
    if not waiting:
        return
    turn_id = waiting[0].id
    settings = config.workspace_for(project.name)
    try:
        if ws.state is WorkspaceState.PENDING:
            note = f"worktree: checking out {ws.branch} from {ws.base_ref} at {ws.path}"
            _event(config, ledger, ws.session_id, turn_id, note, {"worktree": ws.path})
            worktree.create(ws)
            missing = worktree.copy_files(
                Path(project.path), Path(session.workspace), settings.copy
            )
            if missing:
                note = f"copy: not in the main checkout, skipped: {', '.join(missing)}"
                _event(config, ledger, ws.session_id, turn_id, note, {"missing": missing})
            _set(ledger, ws.session_id, WorkspaceState.CREATED)
        for argv in settings.setup:
            note = f"setup: running `{' '.join(argv)}`"  # the queued turn's wait, named
            _event(config, ledger, ws.session_id, turn_id, note, {"setup": list(argv)})
            result = worktree.run_setup(
                argv,
                Path(session.workspace),
                config.workspaces.setup_timeout_s,
                {"TETHER_SESSION_ID": ws.session_id, "TETHER_MAIN_CHECKOUT": project.path},
            )
            status = "did not finish" if result.exit_code is None else f"exit {result.exit_code}"
            _event(
                config,
                ledger,
                ws.session_id,
                turn_id,
                f"setup `{' '.join(argv)}`: {status}\n{result.output}",
                {"setup": list(argv), "exit_code": result.exit_code},
            )
            if result.failure is not None:
                _fail(ledger, ws.session_id, turn_id, result.failure)
                return
    except TetherError as exc:
        _fail(ledger, ws.session_id, turn_id, f"the session's worktree could not be made: {exc}")
        return
    _set(ledger, ws.session_id, WorkspaceState.READY)
    log.info("worktree ready", extra={"action": "prepare", "session": ws.session_id})


def _set(ledger: Ledger, session_id: str, state: WorkspaceState) -> None:
    with ledger.db.write() as conn:
        workspaces.update_fields(conn, session_id, {"state": state.value, "error": None})


def _fail(ledger: Ledger, session_id: str, turn_id: str, reason: str) -> None:
    with ledger.db.write() as conn:
        workspaces.update_fields(conn, session_id, {"error": reason})
        with suppress(IllegalTransition):  # cancelled meanwhile: its own ending stands
            turns.transition(conn, turn_id, TurnState.FAILED, reason=reason)
    log.warning("%s", reason, extra={"action": "prepare", "session": session_id})


def _event(
    config: Config,
    ledger: Ledger,
    session_id: str,
    turn_id: str | None,
    text: str,
    data: dict[str, object],
) -> None:
    row = events.row_for(
        NewEvent(session_id, EventKind.STATUS, text, turn_id=turn_id, data=data),
        ledger.blobs,
        config.engine.preview_bytes,
    )
    with ledger.db.write() as conn:
        events.insert_rows(conn, [row])
