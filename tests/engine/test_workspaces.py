"""Worktrees per session on real git repositories, driven through the real engine."""

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from click.testing import CliRunner

from tether.cli.group import cli
from tether.config import Config, load
from tether.domain.workspace import DiffScope, WorkspaceState
from tether.engine import accept
from tether.engine.supervisor import Engine
from tether.errors import InvalidInput
from tether.ledger import diffs, events, sessions, workspaces
from tether.server.app import create_app

from .conftest import make_engine, send, wait_for

GIT_ID = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *GIT_ID, *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def repo(workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project's main checkout: a git repository with one commit on main."""
    monkeypatch.setenv("FAKE_AGENT_HOME", str(tmp_path / "agent-home"))
    (tmp_path / "agent-home").mkdir()
    git(workdir, "init", "-q", "-b", "main")
    (workdir / "README.md").write_text("hello\n")
    git(workdir, "add", "README.md")
    git(workdir, "commit", "-qm", "initial")
    return workdir


def spawn_in_worktree(engine: Engine, prompt: str, base: str | None = None) -> accept.Accepted:
    accepted = accept.spawn(
        engine.config, engine.ledger, prompt, project="work", worktree=True, base=base
    )
    engine.poke()
    return accepted


def wait_checkpointed(engine: Engine, session_id: str, number: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with engine.ledger.db.read() as conn:
            ws = workspaces.get(conn, session_id)
        if ws.checkpointed >= number:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{session_id}: checkpointed {ws.checkpointed} after {timeout}s")
        time.sleep(0.05)


def test_two_sessions_write_the_same_file_in_their_own_worktrees(
    engine: Engine, repo: Path
) -> None:
    first = spawn_in_worktree(engine, "@write=notes.txt @sleep=0.5 from the first")
    second = spawn_in_worktree(engine, "@write=notes.txt @sleep=0.5 from the second")
    for accepted in (first, second):
        assert wait_for(engine, accepted.turn.id).state.value == "completed"
    paths = [Path(a.session.workspace) for a in (first, second)]
    assert paths[0] != paths[1] and all(
        p.parent.parent == engine.config.worktrees_dir for p in paths
    )
    assert "from the first" in (paths[0] / "notes.txt").read_text()
    assert "from the second" in (paths[1] / "notes.txt").read_text()
    assert not (repo / "notes.txt").exists()
    assert git(repo, "status", "--porcelain") == ""
    assert git(paths[0], "rev-parse", "--abbrev-ref", "HEAD") == f"tether/{first.session.id}"


def test_each_turn_diff_holds_exactly_that_turns_change(engine: Engine, repo: Path) -> None:
    first = spawn_in_worktree(engine, "@write=a.txt first turn")
    session_id = first.session.id
    wait_for(engine, first.turn.id)
    wait_checkpointed(engine, session_id, 1)
    second = send(engine, session_id, "@write=b/new.txt second turn")
    assert wait_for(engine, second.turn.id).state.value == "completed"
    wait_checkpointed(engine, session_id, 2)
    with engine.ledger.db.read() as conn:
        turn1 = diffs.for_turn(conn, session_id, 1)
        turn2 = diffs.for_turn(conn, session_id, 2)
        whole = diffs.latest_session(conn, session_id)
        files1 = diffs.files_page(conn, turn1.id, 0, 100)
        files2 = diffs.files_page(conn, turn2.id, 0, 100)
        assert whole is not None
        files_all = diffs.files_page(conn, whole.id, 0, 100)
    assert [(f.path, f.status, f.added, f.removed) for f in files1] == [("a.txt", "A", 1, 0)]
    assert [(f.path, f.status, f.added, f.removed) for f in files2] == [("b/new.txt", "A", 1, 0)]
    assert sorted(f.path for f in files_all) == ["a.txt", "b/new.txt"]
    assert whole.scope is DiffScope.SESSION and whole.files == 2 and whole.added == 2
    patch = engine.ledger.blobs.read_range(
        turn2.patch_blob or "", files2[0].patch_offset or 0, files2[0].patch_size or 0
    )
    assert patch.startswith(b"diff --git a/b/new.txt b/b/new.txt")
    assert b"+@write=b/new.txt second turn" in patch
    # nothing of the user's branch, index or stash was touched
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "stash", "list") == ""
    assert git(Path(first.session.workspace), "status", "--porcelain") == "?? a.txt\n?? b/".strip()


def test_a_project_that_is_not_a_git_repository_is_refused(engine: Engine, workdir: Path) -> None:
    with pytest.raises(InvalidInput, match="not a git repository"):
        spawn_in_worktree(engine, "hello")
    with engine.ledger.db.read() as conn:
        assert sessions.list_page(conn).items == []


def test_an_unknown_base_is_refused(engine: Engine, repo: Path) -> None:
    with pytest.raises(InvalidInput, match="names no commit"):
        spawn_in_worktree(engine, "hello", base="no-such-branch")
    with pytest.raises(InvalidInput, match="not a git ref"):
        spawn_in_worktree(engine, "hello", base="--upload-pack=evil")


def test_a_worktree_starts_from_the_given_base(engine: Engine, repo: Path) -> None:
    first_commit = git(repo, "rev-parse", "HEAD")
    (repo / "later.txt").write_text("later\n")
    git(repo, "add", "later.txt")
    git(repo, "commit", "-qm", "later")
    accepted = spawn_in_worktree(engine, "@write=x.txt hi", base=first_commit)
    wait_for(engine, accepted.turn.id)
    wait_checkpointed(engine, accepted.session.id, 1)
    with engine.ledger.db.read() as conn:
        ws = workspaces.get(conn, accepted.session.id)
    assert ws.state is WorkspaceState.READY and ws.base_commit == first_commit
    assert not (Path(ws.path) / "later.txt").exists()


@pytest.fixture
def configured(home: Path, repo: Path, engine_config: Config) -> Iterator[Callable[[str], Engine]]:
    """An engine whose config.toml also has a [projects.work] table."""
    started: list[Engine] = []

    def start(project_table: str) -> Engine:
        with (home / "config.toml").open("a") as handle:
            handle.write(f"\n[projects.work]\n{project_table}\n")
        running, _ = make_engine(load(), repo)
        running.start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
        running.ledger.close()


def test_setup_runs_before_the_first_turn_and_copy_brings_untracked_files(
    configured: Callable[[str], Engine], repo: Path
) -> None:
    (repo / ".env").write_text("SECRET=1\n")
    py = sys.executable
    engine = configured(
        f'worktree = true\ncopy = [".env", "missing.cfg"]\n'
        f'setup = [["{py}", "-c", "import os; print(\'setup in\', os.getcwd()); '
        f"open('installed', 'w').write(os.environ['TETHER_SESSION_ID'])\"]]"
    )
    accepted = accept.spawn(engine.config, engine.ledger, "@write=out.txt go", project="work")
    engine.poke()
    assert wait_for(engine, accepted.turn.id).state.value == "completed"
    workspace = Path(accepted.session.workspace)
    assert (workspace / ".env").read_text() == "SECRET=1\n"
    assert (workspace / "installed").read_text() == accepted.session.id
    wait_checkpointed(engine, accepted.session.id, 1)
    with engine.ledger.db.read() as conn:
        notes = [e.preview for e in events.page(conn, accepted.session.id, limit=100).items]
        whole = diffs.latest_session(conn, accepted.session.id)
        assert whole is not None
        paths = {f.path for f in diffs.files_page(conn, whole.id, 0, 100)}
    assert any(n.startswith(f"setup `{py} -c") and "exit 0" in n and "setup in" in n for n in notes)
    assert any("missing.cfg" in n for n in notes)
    assert paths == {"installed", "out.txt"}  # the copied .env stays out of every diff


def test_a_failing_setup_fails_the_turn_with_the_command_and_status(
    configured: Callable[[str], Engine], repo: Path
) -> None:
    py = sys.executable
    engine = configured(
        f'worktree = true\nsetup = [["{py}", "-c", "import sys; print(\'no lockfile\'); '
        f'sys.exit(3)"]]'
    )
    accepted = accept.spawn(engine.config, engine.ledger, "@write=out.txt go", project="work")
    engine.poke()
    turn = wait_for(engine, accepted.turn.id)
    assert turn.state.value == "failed"
    assert turn.reason is not None and "exited with status 3" in turn.reason
    assert f"`{py} -c" in turn.reason
    assert turn.phases.dispatched is None  # the agent never ran
    with engine.ledger.db.read() as conn:
        notes = [e.preview for e in events.page(conn, accepted.session.id, limit=100).items]
    assert any("exit 3" in n and "no lockfile" in n for n in notes)


def test_the_diff_api_and_cli_answer_from_the_ledger(engine: Engine, repo: Path) -> None:
    first = spawn_in_worktree(engine, "@write=one.txt first")
    session_id = first.session.id
    wait_for(engine, first.turn.id)
    wait_checkpointed(engine, session_id, 1)
    second = send(engine, session_id, "@write=two.txt second")
    wait_for(engine, second.turn.id)
    wait_checkpointed(engine, session_id, 2)
    anyio.run(_check_diff_api, engine, session_id)
    result = CliRunner().invoke(cli, ["diff", session_id, "--stat"])
    assert result.exit_code == 0, result.output
    assert "A one.txt | +1 -0" in result.stdout and "2 files changed, +2 -0" in result.stdout
    result = CliRunner().invoke(cli, ["diff", session_id, "--turn", "1"])
    assert result.stdout.startswith("diff --git a/one.txt b/one.txt")
    assert "two.txt" not in result.stdout


async def _check_diff_api(engine: Engine, session_id: str) -> None:
    transport = httpx.ASGITransport(app=create_app(engine.config, engine.ledger, engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:7700") as client:
        url = f"/api/sessions/{session_id}/diff"
        page = (await client.get(url, params={"limit": 1})).json()
        assert page["summary"]["files"] == 2 and page["turns"] == [1, 2]
        assert [f["path"] for f in page["files"]] == ["one.txt"] and page["next_offset"] == 1
        assert page["files"][0]["patch"].startswith("diff --git a/one.txt b/one.txt")
        rest = (await client.get(url, params={"offset": 1})).json()
        assert [f["path"] for f in rest["files"]] == ["two.txt"] and rest["next_offset"] is None
        turn = (await client.get(url, params={"turn": 2})).json()
        assert [f["path"] for f in turn["files"]] == ["two.txt"]
        assert (await client.get(url, params={"turn": 9})).status_code == 404
        assert (await client.get(url, params={"limit": "x"})).status_code == 400
        detail = (await client.get(f"/api/sessions/{session_id}")).json()
        assert detail["worktree"]["branch"] == f"tether/{session_id}"
        assert detail["diff"]["files"] == 2
