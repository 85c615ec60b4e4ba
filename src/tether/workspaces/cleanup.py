"""Archiving a session (its worktree removed) and collecting what archived sessions left.

A worktree with a queued or live turn is never touched: archive refuses, and
gc skips it whatever the ledger says about its session.
"""

import os
import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from tether.config import Config
from tether.domain.records import EventKind
from tether.domain.states import SessionState
from tether.domain.workspace import Workspace, WorkspaceState
from tether.errors import Conflict, TetherError
from tether.ledger import events, sessions, turns, workspaces
from tether.ledger.events import NewEvent
from tether.ledger.store import Ledger
from tether.workspaces import git
from tether.workspaces.worktree import CHECKPOINT_REFS, remove, uncommitted


@dataclass(frozen=True)
class Archived:
    session_id: str
    worktree_removed: str | None
    branch_deleted: str | None


def archive(
    config: Config, ledger: Ledger, session_id: str, force: bool, delete_branch: bool
) -> Archived:
    with ledger.db.read() as conn:
        session = sessions.get(conn, session_id)
        ws = workspaces.find(conn, session_id)
        turns.require_idle(conn, session_id, "archiving")
    if session.state is SessionState.ARCHIVED:
        raise Conflict(f"session {session_id} is archived already")
    removed = deleted = None
    if ws is not None and ws.state is not WorkspaceState.REMOVED:
        path = Path(ws.path)
        if path.exists() and not force:
            left = uncommitted(path, config.workspace_for(session.project).copy)
            if left:
                raise Conflict(
                    f"the worktree {path} has uncommitted changes ({', '.join(left[:5])}); "
                    f"merge or commit them, or pass --force to discard them (the last "
                    f"checkpoint stays under {CHECKPOINT_REFS}/{session_id}/)"
                )
        remove(ws)
        removed = ws.path
        if delete_branch:
            git.run(ws.repo, "branch", "-D", ws.branch)
            deleted = ws.branch
    with ledger.db.write() as conn:
        if ws is not None:
            workspaces.update_fields(
                conn, session_id, {"state": WorkspaceState.REMOVED.value, "removed_at": time.time()}
            )
        sessions.archive(conn, session_id)
        note = "archived" + (f"; worktree {removed} removed" if removed else "")
        note += f"; branch {deleted} deleted" if deleted else ""
        events.insert_rows(
            conn, [events.row_for(NewEvent(session_id, EventKind.STATUS, note), ledger.blobs)]
        )
    return Archived(session_id, removed, deleted)


@dataclass
class Collected:
    removed: list[dict[str, object]] = field(default_factory=list)
    kept: list[dict[str, str]] = field(default_factory=list)
    refs_deleted: int = 0

    @property
    def bytes_freed(self) -> int:
        return sum(int(str(r["bytes"])) for r in self.removed)


def gc(
    config: Config, ledger: Ledger, hold: Callable[[str], AbstractContextManager[None]]
) -> Collected:
    """Remove worktrees of archived sessions and orphaned ones; drop their checkpoint refs.

    ``hold`` takes a session's workspace from the worker for the time of its removal.
    """
    collected = Collected()
    with ledger.db.read() as conn:
        leftovers = workspaces.archived(conn)
        known = workspaces.all_paths(conn)
        removed_sessions = workspaces.in_states(conn, [WorkspaceState.REMOVED])
    for ws in leftovers:
        with hold(ws.session_id):
            reason = _collect(ledger, ws, collected)
        if reason is not None:
            collected.kept.append({"path": ws.path, "reason": reason})
    for path in _orphans(config, known):
        size = _size(path)
        common = git.run(path, "rev-parse", "--git-common-dir", check=False)
        shutil.rmtree(path, ignore_errors=True)
        if common.returncode == 0:
            repo = Path(path, common.stdout.decode().strip()).resolve()
            git.run(repo, "worktree", "prune", check=False)
        collected.removed.append({"session_id": None, "path": str(path), "bytes": size})
    for ws in [*leftovers, *removed_sessions]:
        collected.refs_deleted += _drop_refs(ws)
    return collected


def _collect(ledger: Ledger, ws: Workspace, collected: Collected) -> str | None:
    """Remove one archived session's worktree; the reason it was kept, if it was."""
    with ledger.db.read() as conn:
        busy = turns.unfinished(conn, ws.session_id)
    if busy:
        return f"turn {busy[0].id} is {busy[0].state}"
    size = _size(Path(ws.path))
    try:
        remove(ws)
    except TetherError as exc:
        return str(exc)
    with ledger.db.write() as conn:
        workspaces.update_fields(
            conn, ws.session_id, {"state": WorkspaceState.REMOVED.value, "removed_at": time.time()}
        )
    collected.removed.append({"session_id": ws.session_id, "path": ws.path, "bytes": size})
    return None


def _orphans(config: Config, known: set[str]) -> list[Path]:
    """Worktree directories under ours that no workspace row names (a crash mid-spawn)."""
    found = []
    for project in sorted(config.worktrees_dir.glob("*")):
        for path in sorted(project.glob("*")):
            if str(path) not in known and (path / ".git").is_file():
                found.append(path)
    return found


def _drop_refs(ws: Workspace) -> int:
    if not Path(ws.repo).exists():
        return 0
    listed = git.run(
        ws.repo,
        "for-each-ref",
        "--format=%(refname)",
        f"{CHECKPOINT_REFS}/{ws.session_id}/",
        check=False,
    )
    refs = listed.stdout.decode().split()
    for ref in refs:
        git.run(ws.repo, "update-ref", "-d", ref, check=False)
    return len(refs)


def _size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total
