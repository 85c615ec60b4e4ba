"""Checkpoints on a real repository: what they see, and what they leave alone."""

import subprocess
import time
from pathlib import Path

from tether.domain.workspace import Workspace, WorkspaceState
from tether.workspaces import checkpoint

GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def workspace(path: Path) -> Workspace:
    head = git(path, "rev-parse", "HEAD").strip()
    return Workspace(
        session_id="web-1",
        repo=str(path),
        path=str(path),
        branch="main",
        base_ref="main",
        base_commit=head,
        state=WorkspaceState.READY,
        checkpointed=0,
        head_commit=None,
        error=None,
        pr_url=None,
        merged_into=None,
        merged_commit=None,
        created_at=time.time(),
        removed_at=None,
    )


def test_the_users_index_branch_and_stash_are_left_alone(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-qm", "base")
    (repo / "a.txt").write_text("changed\n")
    (repo / "staged.txt").write_text("staged\n")
    git(repo, "add", "staged.txt")
    (repo / "new.txt").write_text("untracked\n")
    ws = workspace(repo)
    status = git(repo, "status", "--porcelain")
    commit = checkpoint.record(ws, 1, ("new.txt",))
    assert git(repo, "status", "--porcelain") == status
    assert git(repo, "rev-parse", "HEAD").strip() == ws.base_commit
    assert git(repo, "stash", "list") == ""
    assert git(repo, "rev-parse", "refs/tether/web-1/1").strip() == commit
    changed = git(repo, "diff", "--name-only", ws.base_commit, commit).split()
    assert changed == ["a.txt", "staged.txt"]  # the excluded (copied-in) file stays out
