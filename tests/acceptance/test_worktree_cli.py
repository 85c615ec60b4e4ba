"""A worktree session through the installed CLI and a real daemon, from spawn to gc."""

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.acceptance.test_engine_cli import Home
from tests.engine.conftest import write_config

GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    path, work = tmp_path / "home", tmp_path / "work"
    path.mkdir()
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "user.name", "Test")
    git(work, "config", "user.email", "test@example.com")
    (work / "README.md").write_text("hello\n")
    git(work, "add", "README.md")
    git(work, "commit", "-qm", "initial")
    write_config(path, max_parallel=4)
    h = Home(path, work)
    h.env["FAKE_AGENT_HOME"] = str(tmp_path)  # the fake's bookkeeping stays out of the checkout
    assert h.run("project", "add", str(work), "--name", "work", "--agent", "fake").returncode == 0
    yield h
    h.run("daemon", "stop")


def test_a_worktree_session_from_spawn_to_gc(home: Home) -> None:
    spawned = home.json("spawn", "--project", "work", "--worktree", "@write=feature.txt add it")
    session = spawned["session"]
    assert isinstance(session, dict)
    session_id, workspace = session["id"], Path(str(session["workspace"]))
    assert workspace.parent == home.path / "worktrees" / "work"
    waited = home.run("wait", f"{session_id}.1", "--timeout", "120")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    stat, deadline = "", time.monotonic() + 120
    while "feature.txt" not in stat and time.monotonic() < deadline:
        time.sleep(0.2)  # the checkpoint follows the turn's end, in the background
        stat = home.run("diff", session_id, "--stat").stdout
    assert "A feature.txt | +1 -0" in stat and "1 files changed, +1 -0" in stat
    shown = home.json("show", session_id)
    assert shown["worktree"] == {**shown["worktree"], "branch": f"tether/{session_id}"}  # type: ignore[dict-item]
    merged = home.run("merge", session_id)
    assert merged.returncode == 0, merged.stderr
    assert f"merged tether/{session_id} into main" in merged.stdout
    assert (home.work / "feature.txt").exists() and git(home.work, "status", "--porcelain") == ""
    again = home.run("merge", session_id)
    assert again.returncode == 1 and "has nothing that main does not have" in again.stderr
    archived = home.run("archive", session_id, "--delete-branch")
    assert archived.returncode == 0, archived.stderr
    assert (
        not workspace.exists() and git(home.work, "branch", "--list", f"tether/{session_id}") == ""
    )
    collected = home.json("gc")
    assert collected["refs_deleted"] == 2 and collected["removed"] == []
    refused = home.run("spawn", "--project", "work", "--base", "no-such-ref", "--worktree", "x")
    assert refused.returncode == 2 and "names no commit" in refused.stderr
