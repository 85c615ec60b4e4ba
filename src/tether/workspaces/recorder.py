"""After a turn: checkpoint the worktree and store that turn's diff and the session's.

Runs in the workspace worker, never on a read. The dispatcher holds the
session's next turn until this is done, so a turn's checkpoint holds exactly
that turn's change. A failure is recorded and shown, and the lane moves on:
a missing diff must not become a session that never runs again.
"""

import logging

from tether.config import Config
from tether.domain.records import EventKind, Turn
from tether.domain.workspace import DiffScope, Workspace
from tether.errors import TetherError
from tether.ledger import diffs, events, sessions, turns, workspaces
from tether.ledger.events import NewEvent
from tether.ledger.store import Ledger
from tether.workspaces import checkpoint, diff

log = logging.getLogger("tether.workspaces")


def record(config: Config, ledger: Ledger, ws: Workspace, upto: int) -> None:
    with ledger.db.read() as conn:
        project = sessions.get(conn, ws.session_id).project
        ended = [
            t
            for t in turns.for_session(conn, ws.session_id)
            if ws.checkpointed < t.number <= upto and t.state.terminal
        ]
    ran = [t for t in ended if t.phases.dispatched is not None]
    if not ran:
        with ledger.db.write() as conn:
            workspaces.update_fields(conn, ws.session_id, {"checkpointed": upto})
        return
    owner = ran[-1]
    try:
        _record(config, ledger, ws, owner, config.workspace_for(project).copy)
    except TetherError as exc:
        reason = f"checkpoint after turn {owner.id} failed: {exc}"
        log.warning("%s", reason, extra={"action": "checkpoint", "session": ws.session_id})
        row = events.row_for(
            NewEvent(ws.session_id, EventKind.STATUS, reason, turn_id=owner.id), ledger.blobs
        )
        with ledger.db.write() as conn:
            events.insert_rows(conn, [row])
            workspaces.update_fields(conn, ws.session_id, {"checkpointed": upto, "error": reason})
        return
    with ledger.db.write() as conn:
        workspaces.update_fields(conn, ws.session_id, {"checkpointed": upto})


def _record(
    config: Config, ledger: Ledger, ws: Workspace, turn: Turn, excluded: tuple[str, ...]
) -> None:
    huge = config.workspaces.huge_file_bytes
    commit = checkpoint.record(ws, turn.number, excluded)
    before = ws.head_commit or ws.base_commit
    turn_diff = diff.compute(ws.repo, before, commit, ledger.blobs, huge)
    base = checkpoint.session_base(ws, commit)
    session_diff = (
        turn_diff if base == before else diff.compute(ws.repo, base, commit, ledger.blobs, huge)
    )
    with ledger.db.write() as conn:
        diffs.store(conn, ws.session_id, DiffScope.TURN, turn.number, (before, commit), *turn_diff)
        diffs.store(
            conn, ws.session_id, DiffScope.SESSION, turn.number, (base, commit), *session_diff
        )
        diffs.drop_older_session_diffs(conn, ws.session_id, keep=turn.number)
        workspaces.update_fields(conn, ws.session_id, {"head_commit": commit, "error": None})
    log.info(
        "checkpoint %s: %d files",
        turn.id,
        len(turn_diff[0]),
        extra={"action": "checkpoint", "session": ws.session_id},
    )
