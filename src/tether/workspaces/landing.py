"""Landing a session's work: merge its branch in the main checkout, or open a pull request.

Both first commit what the agent left uncommitted in the worktree onto the
session's own branch (never the user's), so what lands is what the diff
shows. A merge is tried in memory first (``git merge-tree``), so a conflict
is reported without touching the main checkout at all.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection

from tether.config import Config
from tether.domain.records import EventKind, Session
from tether.domain.workspace import Workspace, WorkspaceState
from tether.errors import Conflict, WorkspaceError
from tether.ledger import events, sessions, turns, workspaces
from tether.ledger.events import NewEvent
from tether.ledger.store import Ledger
from tether.workspaces import git
from tether.workspaces.worktree import pathspec, uncommitted

GH_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Landed:
    session_id: str
    branch: str
    target: str  # the branch merged into, or the pull request's URL
    commit: str | None


def merge(
    config: Config, ledger: Ledger, session_id: str, squash: bool, into: str | None
) -> Landed:
    session, ws = _ready(ledger, session_id)
    commit_pending(ws, session, config.workspace_for(session.project).copy)
    target = into or _base_branch(ws) or _current_branch(ws.repo)
    if target is None:
        raise Conflict(f"the main checkout {ws.repo} is on a detached HEAD; pass --into BRANCH")
    git.check_ref_name(target)
    current = _current_branch(ws.repo)
    if current != target:
        raise Conflict(
            f"the main checkout {ws.repo} is on {current or 'a detached HEAD'}, not {target}; "
            f"switch it to {target} or pass --into {current}"
        )
    dirty = git.out(ws.repo, "status", "--porcelain", "-uno").splitlines()
    if dirty:
        shown = ", ".join(line[3:] for line in dirty[:5])
        raise Conflict(
            f"the main checkout {ws.repo} has uncommitted changes ({shown}); commit or stash "
            "them first: tether merges only into a clean checkout"
        )
    if git.out(ws.repo, "rev-list", "--count", f"{target}..{ws.branch}") == "0":
        raise Conflict(f"{ws.branch} has nothing that {target} does not have already")
    _refuse_conflicts(ws, target)
    title = f"{session.id}: {session.title or 'tether session'}"[:200]
    if squash:
        _run_merge(ws, ["merge", "--squash", ws.branch], abort=["reset", "--merge"])
        git.run(ws.repo, "commit", "-m", title, env=_identity(ws.repo))
    else:
        message = f"Merge {ws.branch} ({title})"
        _run_merge(
            ws,
            ["merge", "--no-ff", "--no-edit", "-m", message, ws.branch],
            abort=["merge", "--abort"],
        )
    commit = git.out(ws.repo, "rev-parse", "HEAD")
    with ledger.db.write() as conn:
        workspaces.update_fields(conn, session_id, {"merged_into": target, "merged_commit": commit})
        _note(ledger, conn, session_id, f"merged {ws.branch} into {target} as {commit[:12]}")
    return Landed(session_id, ws.branch, target, commit)


def pull_request(config: Config, ledger: Ledger, session_id: str, draft: bool) -> Landed:
    gh = shutil.which("gh")
    if gh is None:
        raise WorkspaceError(
            "`gh` (the GitHub CLI) is not installed; install it (https://cli.github.com) and "
            "run `gh auth login`, or push the branch yourself"
        )
    session, ws = _ready(ledger, session_id)
    auth = git.run_tool([gh, "auth", "status"], ws.repo, GH_TIMEOUT_S)
    if auth.returncode != 0:
        raise WorkspaceError(f"`gh` is not logged in ({git.message(auth)}); run `gh auth login`")
    commit_pending(ws, session, config.workspace_for(session.project).copy)
    remote = _remote(ws)
    git.run(ws.repo, "push", "--quiet", remote, f"refs/heads/{ws.branch}:refs/heads/{ws.branch}")
    commit = git.out(ws.repo, "rev-parse", ws.branch)
    if ws.pr_url:
        return Landed(session_id, ws.branch, ws.pr_url, commit)
    title = (session.title or f"tether session {session.id}")[:200]
    body = f"Work of tether session {session.id} ({session.agent}) on branch {ws.branch}."
    argv = [gh, "pr", "create", "--head", ws.branch, "--title", title, "--body", body]
    base = _base_branch(ws)
    if base:
        argv += ["--base", base]
    if draft:
        argv.append("--draft")
    created = git.run_tool(argv, ws.repo, GH_TIMEOUT_S)
    if created.returncode != 0:
        raise WorkspaceError(f"`gh pr create` failed: {git.message(created)}")
    lines = created.stdout.decode("utf-8", "replace").split()
    url = next((w for w in reversed(lines) if w.startswith("https://")), None)
    if url is None:
        raise WorkspaceError("`gh pr create` succeeded but printed no pull request URL")
    with ledger.db.write() as conn:
        workspaces.update_fields(conn, session_id, {"pr_url": url})
        _note(ledger, conn, session_id, f"pushed {ws.branch} to {remote}; pull request {url}")
    return Landed(session_id, ws.branch, url, commit)


def _ready(ledger: Ledger, session_id: str) -> tuple[Session, Workspace]:
    with ledger.db.read() as conn:
        session = sessions.get(conn, session_id)
        ws = workspaces.get(conn, session_id)
        turns.require_idle(conn, session_id, "landing its work")
    if ws.state not in (WorkspaceState.CREATED, WorkspaceState.READY):
        raise Conflict(f"the worktree of {session_id} is {ws.state}: there is nothing to land")
    return session, ws


def commit_pending(ws: Workspace, session: Session, excluded: tuple[str, ...]) -> None:
    """Commit what the agent left uncommitted onto the session's branch (not the user's)."""
    path = Path(ws.path)
    if not uncommitted(path, excluded):
        return
    git.run(path, "add", "-A", *pathspec(excluded))
    message = f"{session.id}: work left uncommitted by {session.agent}"
    git.run(path, "commit", "--quiet", "--no-verify", "-m", message, env=_identity(ws.repo))


def _identity(repo: str) -> dict[str, str]:
    """The user's git identity when configured; tether's otherwise (commit must not fail)."""
    return {} if git.ok(repo, "var", "GIT_AUTHOR_IDENT") else git.CHECKPOINT_IDENTITY


def _base_branch(ws: Workspace) -> str | None:
    if git.ok(ws.repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{ws.base_ref}"):
        return ws.base_ref
    return None


def _current_branch(repo: str) -> str | None:
    done = git.run(repo, "symbolic-ref", "--short", "-q", "HEAD", check=False)
    return done.stdout.decode().strip() or None if done.returncode == 0 else None


def _refuse_conflicts(ws: Workspace, target: str) -> None:
    trial = git.run(
        ws.repo,
        "merge-tree",
        "--write-tree",
        "--name-only",
        "--no-messages",
        target,
        ws.branch,
        check=False,
    )
    if trial.returncode == 1:
        files = trial.stdout.decode("utf-8", "replace").splitlines()[1:]
        raise Conflict(
            f"merging {ws.branch} into {target} would conflict in {', '.join(files[:20])}; "
            "nothing was changed"
        )


def _run_merge(ws: Workspace, args: list[str], abort: list[str]) -> None:
    done = git.run(ws.repo, *args, env=_identity(ws.repo), check=False)
    if done.returncode == 0:
        return
    conflicted = git.out(ws.repo, "diff", "--name-only", "--diff-filter=U").splitlines()
    git.run(ws.repo, *abort, check=False)
    if conflicted:
        raise Conflict(
            f"merging {ws.branch} conflicts in {', '.join(conflicted[:20])}; the merge was "
            "undone and the main checkout is as it was"
        )
    raise WorkspaceError(f"git {args[0]} of {ws.branch} failed: {git.message(done)}")


def _remote(ws: Workspace) -> str:
    base = _base_branch(ws)
    if base:
        configured = git.run(ws.repo, "config", f"branch.{base}.remote", check=False)
        if configured.returncode == 0 and configured.stdout.strip():
            return configured.stdout.decode().strip()
    remotes = git.out(ws.repo, "remote").split()
    if "origin" in remotes:
        return "origin"
    if len(remotes) == 1:
        return remotes[0]
    raise WorkspaceError(
        f"cannot tell which remote of {ws.repo} to push to "
        f"({', '.join(remotes) or 'it has none'}); set branch.{base or 'main'}.remote"
    )


def _note(ledger: Ledger, conn: Connection, session_id: str, text: str) -> None:
    events.insert_rows(
        conn, [events.row_for(NewEvent(session_id, EventKind.STATUS, text), ledger.blobs)]
    )
