"""A session's git workspace and the diffs recorded from it.

The worktree is a fact of the session's row (invariant 1 applies to where
an agent runs as much as to which agent runs); these records say what
tether did with it and what changed in it, as stored in the ledger.
"""

from dataclasses import dataclass
from enum import StrEnum


class WorkspaceState(StrEnum):
    PENDING = "pending"  # planned at spawn; the worktree does not exist yet
    CREATED = "created"  # worktree checked out, files copied; setup not (yet) passed
    READY = "ready"  # setup passed: turns may run in it
    REMOVED = "removed"  # worktree deleted by archive or gc; the branch may remain


class DiffScope(StrEnum):
    TURN = "turn"  # one turn's change: its checkpoint against the one before
    SESSION = "session"  # everything: the newest checkpoint against the merge-base


@dataclass(frozen=True, slots=True)
class Workspace:
    session_id: str
    repo: str
    path: str
    branch: str
    base_ref: str
    base_commit: str
    state: WorkspaceState
    checkpointed: int
    head_commit: str | None
    error: str | None
    pr_url: str | None
    merged_into: str | None
    merged_commit: str | None
    created_at: float
    removed_at: float | None


@dataclass(frozen=True, slots=True)
class DiffFile:
    position: int
    path: str
    old_path: str | None
    status: str  # git's letter: A added, M modified, D deleted, R renamed, T type changed
    added: int | None  # None for a binary file
    removed: int | None
    binary: bool
    huge: bool  # its patch exceeded [workspaces] huge_file_bytes and was not stored
    patch_offset: int | None
    patch_size: int | None


@dataclass(frozen=True, slots=True)
class DiffSummary:
    id: int
    session_id: str
    scope: DiffScope
    turn_number: int
    from_commit: str
    to_commit: str
    files: int
    added: int
    removed: int
    binary_files: int
    huge_files: int
    patch_blob: str | None
    created_at: float
