"""Recording a worktree as a commit without touching the user's branch, index or stash.

``git add -A`` into a temporary copy of the worktree's index (the copy keeps
git's stat cache, so unchanged files are not hashed again), ``write-tree``,
``commit-tree`` on top of the worktree's HEAD, and a ref under
``refs/tether/<session>/<turn>`` so the checkpoint outlives the worktree.
"""

import os
import shutil
import tempfile
from pathlib import Path

from tether.domain.workspace import Workspace
from tether.workspaces import git
from tether.workspaces.worktree import checkpoint_ref, pathspec


def record(ws: Workspace, turn_number: int, excluded: tuple[str, ...]) -> str:
    """Checkpoint the worktree after ``turn_number``; return the commit."""
    path = Path(ws.path)
    index = Path(path, git.out(path, "rev-parse", "--git-path", "index"))
    fd, scratch = tempfile.mkstemp(prefix="tether-index-", dir=index.parent)
    os.close(fd)
    try:
        if index.exists():
            # copy2 keeps the index's mtime: git trusts an entry's stat data only when the
            # file is older than the index, so a fresh mtime would hide same-size edits
            # made in the second after checkout ("racy git").
            shutil.copy2(index, scratch)
        else:
            os.unlink(scratch)
        env = {"GIT_INDEX_FILE": scratch}
        # Fast zlib for these objects: checkpointing 100 MB is then bound by reading it.
        git.run(path, "-c", "core.looseCompression=1", "add", "-A", *pathspec(excluded), env=env)
        tree = git.out(path, "write-tree", env=env)
    finally:
        Path(scratch).unlink(missing_ok=True)
    head = git.out(path, "rev-parse", "HEAD")
    note = f"tether checkpoint: {ws.session_id} after turn {turn_number}"
    commit = git.out(path, "commit-tree", tree, "-p", head, "-m", note, env=git.CHECKPOINT_IDENTITY)
    git.run(path, "update-ref", checkpoint_ref(ws.session_id, turn_number), commit)
    return commit


def session_base(ws: Workspace, commit: str) -> str:
    """The merge-base of the checkpoint with the session's base branch (or its base commit).

    Diffing against the merge-base, not the base branch's tip, keeps commits
    that landed on the base meanwhile out of the session's diff (Claude Code
    #23626: a diff against the wrong base showed 541,973 changed lines).
    """
    for base in (ws.base_ref, ws.base_commit):
        done = git.run(ws.repo, "merge-base", base, commit, check=False)
        if done.returncode == 0:
            return done.stdout.decode().strip()
    return ws.base_commit
