"""The session page's diff view, rendered by a real daemon and headless chromium."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tether.domain.workspace import DiffScope, WorkspaceState
from tether.ledger import diffs, projects, sessions, workspaces
from tether.workspaces import diff

if TYPE_CHECKING:  # fixtures come from tests/browser/conftest.py, which is not a package
    from conftest import Chromium, Served

pytestmark = pytest.mark.browser
GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def test_the_session_page_shows_the_recorded_diff(served: Served, chromium: Chromium) -> None:
    repo = served.home.parent / "work" / "webapp"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "login.py").write_text("def login():\n    return False\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "login.py").write_text("def login():\n    return check_password()\n")
    (repo / "<img src=x onerror=alert(1)>.txt").write_text("<b>not bold</b>\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "agent")
    head = git(repo, "rev-parse", "HEAD").strip()
    files, blob = diff.compute(repo, base, head, served.ledger.blobs, 1 << 20)
    with served.ledger.db.write() as conn:
        project = projects.add(conn, repo, name="webapp")
        session = sessions.create(conn, project, "claude", str(repo), title="fix the login form")
        workspaces.add(
            conn, session.id, str(repo), str(repo / "wt"), "tether/webapp-1", "main", base
        )
        workspaces.update_fields(
            conn, session.id, {"state": WorkspaceState.READY.value, "checkpointed": 1}
        )
        for scope in DiffScope:
            diffs.store(conn, session.id, scope, 1, (base, head), files, blob)
    dom = chromium.run(
        f"{served.url}/sessions/{session.id}", "--virtual-time-budget=15000", "--dump-dom"
    ).stdout
    assert "branch <code>tether/webapp-1</code>" in dom
    assert "2 files changed, +2 \u22121 since main" in dom
    assert "login.py" in dom and "+    return check_password()" in dom
    assert '<span class="add">' in dom and '<span class="del">' in dom
    assert "&lt;b&gt;not bold&lt;/b&gt;" in dom and "<b>not bold</b>" not in dom
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in dom  # a file name, shown as text
