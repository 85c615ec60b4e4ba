"""Merge, pull request, archive and gc of session worktrees, on real git repositories."""

import json
import os
import shutil
import stat
from pathlib import Path

import anyio
import httpx
import pytest

from tether.domain.states import SessionState
from tether.domain.workspace import WorkspaceState
from tether.engine.supervisor import Engine
from tether.errors import Conflict, WorkspaceError
from tether.ledger import sessions, workspaces
from tether.server.app import create_app
from tether.workspaces import cleanup, landing

from .conftest import wait_for
from .test_workspaces import git, repo, spawn_in_worktree, wait_checkpointed

__all__ = ["repo"]  # the fixture, shared with test_workspaces

STAND_IN_GH = """#!{python}
import json, os, sys
with open(os.environ["GH_ARGV_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1:3] == ["pr", "create"]:
    print("Creating pull request for tether/x into main\\n\\nhttps://github.com/acme/web/pull/7")
"""


def finished_session(engine: Engine, prompt: str) -> str:
    accepted = spawn_in_worktree(engine, prompt)
    assert wait_for(engine, accepted.turn.id).state.value == "completed"
    wait_checkpointed(engine, accepted.session.id, 1)
    return accepted.session.id


def workspace_of(engine: Engine, session_id: str) -> workspaces.Workspace:
    with engine.ledger.db.read() as conn:
        return workspaces.get(conn, session_id)


def test_merge_into_a_clean_checkout(engine: Engine, repo: Path) -> None:
    session_id = finished_session(engine, "@write=feature.txt add the feature")
    landed = landing.merge(engine.config, engine.ledger, session_id, squash=False, into=None)
    assert landed.target == "main"
    assert (repo / "feature.txt").read_text() == "@write=feature.txt add the feature\n"
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "log", "-1", "--format=%s").startswith(f"Merge tether/{session_id}")
    ws = workspace_of(engine, session_id)
    assert ws.merged_into == "main" and ws.merged_commit == git(repo, "rev-parse", "HEAD")


def test_squash_merge_makes_one_commit(engine: Engine, repo: Path) -> None:
    session_id = finished_session(engine, "@write=squashed.txt squash me")
    before = git(repo, "rev-parse", "HEAD")
    landing.merge(engine.config, engine.ledger, session_id, squash=True, into="main")
    assert git(repo, "rev-parse", "HEAD^") == before
    assert git(repo, "log", "-1", "--format=%s").startswith(f"{session_id}: ")
    assert (repo / "squashed.txt").exists() and git(repo, "status", "--porcelain") == ""


def test_a_conflicting_merge_changes_nothing_and_names_the_files(
    engine: Engine, repo: Path
) -> None:
    session_id = finished_session(engine, "@write=README.md the agent's readme")
    (repo / "README.md").write_text("the user's readme\n")
    git(repo, "commit", "-qam", "user edit")
    head = git(repo, "rev-parse", "HEAD")
    with pytest.raises(Conflict, match=r"conflict in README\.md; nothing was changed"):
        landing.merge(engine.config, engine.ledger, session_id, squash=False, into=None)
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == ""
    assert (repo / "README.md").read_text() == "the user's readme\n"
    assert not (repo / ".git" / "MERGE_HEAD").exists()
    assert workspace_of(engine, session_id).merged_into is None


def test_merge_refuses_a_dirty_checkout(engine: Engine, repo: Path) -> None:
    session_id = finished_session(engine, "@write=other.txt x")
    (repo / "README.md").write_text("half-done edit\n")
    with pytest.raises(Conflict, match="uncommitted changes"):
        landing.merge(engine.config, engine.ledger, session_id, squash=False, into=None)
    assert (repo / "README.md").read_text() == "half-done edit\n"
    assert not (repo / "other.txt").exists()


def test_pr_pushes_to_the_remote_and_calls_gh(
    engine: Engine, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(STAND_IN_GH.format(python=shutil.which("python3")))
    gh.chmod(gh.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "gh-argv.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("GH_ARGV_LOG", str(log))
    session_id = finished_session(engine, "@write=pr.txt for review")
    answer = anyio.run(_post, engine, f"/api/sessions/{session_id}/pr", {"draft": True})
    assert answer == {**answer, "target": "https://github.com/acme/web/pull/7"}
    branch = f"tether/{session_id}"
    assert git(remote, "show", f"{branch}:pr.txt") == "@write=pr.txt for review"
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls[0] == ["auth", "status"]
    create = calls[1]
    assert create[:4] == ["pr", "create", "--head", branch] and "--draft" in create
    assert create[create.index("--base") + 1] == "main"
    assert workspace_of(engine, session_id).pr_url == "https://github.com/acme/web/pull/7"


def test_pr_without_gh_says_so(
    engine: Engine, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id = finished_session(engine, "@write=x.txt x")
    only_git = tmp_path / "only-git"
    only_git.mkdir()
    (only_git / "git").symlink_to(shutil.which("git") or "git")
    monkeypatch.setenv("PATH", str(only_git))
    with pytest.raises(WorkspaceError, match=r"`gh` .* is not installed"):
        landing.pull_request(engine.config, engine.ledger, session_id, draft=False)


def test_archive_refuses_a_dirty_worktree_then_removes_it(engine: Engine, repo: Path) -> None:
    session_id = finished_session(engine, "@write=draft.txt unfinished")
    ws = workspace_of(engine, session_id)
    with pytest.raises(Conflict, match=r"uncommitted changes \(draft\.txt\).*--force"):
        cleanup.archive(engine.config, engine.ledger, session_id, force=False, delete_branch=False)
    assert Path(ws.path, "draft.txt").exists()
    done = cleanup.archive(
        engine.config, engine.ledger, session_id, force=True, delete_branch=False
    )
    assert done.worktree_removed == ws.path and not Path(ws.path).exists()
    assert git(repo, "branch", "--list", ws.branch).strip() == ws.branch  # the branch stays
    with engine.ledger.db.read() as conn:
        assert sessions.get(conn, session_id).state is SessionState.ARCHIVED
        assert workspaces.get(conn, session_id).state is WorkspaceState.REMOVED


def test_archive_of_a_clean_worktree_can_delete_the_branch(engine: Engine, repo: Path) -> None:
    session_id = finished_session(engine, "@write=done.txt finished")
    landing.merge(engine.config, engine.ledger, session_id, squash=False, into=None)
    ws = workspace_of(engine, session_id)
    cleanup.archive(engine.config, engine.ledger, session_id, force=False, delete_branch=True)
    assert git(repo, "branch", "--list", ws.branch) == "" and not Path(ws.path).exists()


def test_gc_prunes_archived_and_orphaned_worktrees_never_a_live_one(
    engine: Engine, repo: Path
) -> None:
    archived = finished_session(engine, "@write=old.txt old work")
    with engine.ledger.db.write() as conn:  # archived while its worktree could not be removed
        sessions.archive(conn, archived)
    old = workspace_of(engine, archived)
    orphan = engine.config.worktrees_dir / "work" / "work-99"
    git(repo, "worktree", "add", "-q", "-b", "stray", str(orphan))
    live = spawn_in_worktree(engine, "@write=live.txt @sleep=4 still working")
    wait_for(engine, live.turn.id, lambda t: t.state.value == "running")
    collected = cleanup.gc(engine.config, engine.ledger, engine.workspaces.exclusive)
    removed = {item["path"] for item in collected.removed}
    assert removed == {old.path, str(orphan)} and collected.bytes_freed > 0
    assert collected.refs_deleted == 2  # checkpoints 0 and 1 of the archived session
    assert not Path(old.path).exists() and not orphan.exists()
    assert Path(live.session.workspace).is_dir()
    assert wait_for(engine, live.turn.id).state.value == "completed"
    assert Path(live.session.workspace, "live.txt").exists()
    assert "work-99" not in git(repo, "worktree", "list")


async def _post(engine: Engine, path: str, body: dict[str, object]) -> dict[str, object]:
    transport = httpx.ASGITransport(app=create_app(engine.config, engine.ledger, engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:7700") as client:
        response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()
    return data
