"""Planning, creating and removing a session's worktree, and preparing it (copy, setup).

Planning runs at spawn, in the request, because a project that is not a git
repository or a base that does not exist must be refused at once; creating
and preparing run in the workspace worker, because checking out a big tree
or running ``npm ci`` takes longer than any request should.
"""

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tether.config import Config
from tether.domain.records import Project
from tether.domain.workspace import Workspace
from tether.errors import InvalidInput, WorkspaceError
from tether.workspaces import git

BRANCH_PREFIX = "tether/"
CHECKPOINT_REFS = "refs/tether"
OUTPUT_KEEP_BYTES = 4 * 1024 * 1024  # setup output kept: head and tail of this much


@dataclass(frozen=True)
class Plan:
    repo: Path  # top level of the project's main checkout
    subdir: Path  # the project's directory inside the repository ('.' at the top)
    base_ref: str
    base_commit: str


def plan(project: Project, base: str | None) -> Plan:
    """Check the project is a git repository with a commit to start from; resolve the base."""
    path = Path(project.path)
    done = git.run(path, "rev-parse", "--show-toplevel", check=False)
    if done.returncode != 0:
        raise InvalidInput(
            f"project {project.name} ({path}) is not a git repository, so it cannot have "
            f"worktrees; run `git init` there and commit, or spawn without --worktree"
        )
    repo = Path(done.stdout.decode().strip())
    if base is None:
        branch = git.run(repo, "symbolic-ref", "--short", "-q", "HEAD", check=False)
        base = branch.stdout.decode().strip() if branch.returncode == 0 else "HEAD"
    git.check_ref_name(base)
    found = git.run(repo, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}", check=False)
    if found.returncode != 0:
        raise InvalidInput(
            f"{base!r} names no commit in {repo} (a branch, tag or commit is needed)"
        )
    commit = found.stdout.decode().strip()
    if base == "HEAD":
        base = commit  # a detached HEAD moves; the session's base must not
    return Plan(repo, path.resolve().relative_to(repo.resolve()), base, commit)


def worktree_path(config: Config, project: str, session_id: str) -> Path:
    return config.worktrees_dir / project / session_id


def branch_for(session_id: str) -> str:
    return f"{BRANCH_PREFIX}{session_id}"


def checkpoint_ref(session_id: str, turn_number: int) -> str:
    return f"{CHECKPOINT_REFS}/{session_id}/{turn_number}"


def create(ws: Workspace) -> None:
    """Check out the session's new branch at its path; a retry finds it done and goes on."""
    path = Path(ws.path)
    if path.exists():
        current = git.run(path, "symbolic-ref", "--short", "-q", "HEAD", check=False)
        if current.stdout.decode().strip() == ws.branch:
            return
        raise WorkspaceError(f"{path} exists and is not the worktree of branch {ws.branch}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if git.ok(ws.repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{ws.branch}"):
        raise WorkspaceError(
            f"branch {ws.branch} already exists in {ws.repo}; delete it (git branch -D) to "
            "reuse this session id"
        )
    git.run(ws.repo, "worktree", "add", "--quiet", "-b", ws.branch, str(path), ws.base_commit)
    git.run(ws.repo, "update-ref", checkpoint_ref(ws.session_id, 0), ws.base_commit)


def copy_files(source_dir: Path, target_dir: Path, entries: tuple[str, ...]) -> list[str]:
    """Copy untracked files (``.env``…) from the main checkout; return what was not found."""
    missing = []
    for entry in entries:
        source, target = source_dir / entry, target_dir / entry
        if not source.exists() and not source.is_symlink():
            missing.append(entry)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            if source.is_dir() and not source.is_symlink():
                shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copy2(source, target, follow_symlinks=False)
        except OSError as exc:
            raise WorkspaceError(f"cannot copy {entry} into {target_dir}: {exc}") from exc
    return missing


@dataclass(frozen=True)
class SetupResult:
    argv: tuple[str, ...]
    exit_code: int | None  # None: it could not start or ran out of time
    output: str
    failure: str | None  # what to tell the user when it failed


def run_setup(argv: tuple[str, ...], cwd: Path, timeout: float, env: dict[str, str]) -> SetupResult:
    """One setup command, argv as given (no shell), in its own process group."""
    shown = " ".join(argv)
    with tempfile.TemporaryFile() as sink:
        try:
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            reason = f"setup command `{shown}` could not start: {exc.strerror}"
            return SetupResult(argv, None, "", reason)
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
        output = _head_and_tail(sink)
    if code is None:
        return SetupResult(argv, None, output, f"setup command `{shown}` ran over {timeout:g}s")
    if code != 0:
        return SetupResult(argv, code, output, f"setup command `{shown}` exited with status {code}")
    return SetupResult(argv, code, output, None)


def _head_and_tail(sink: IO[bytes]) -> str:
    size = sink.seek(0, os.SEEK_END)
    sink.seek(0)
    if size <= OUTPUT_KEEP_BYTES:
        return sink.read().decode("utf-8", "replace")
    half = OUTPUT_KEEP_BYTES // 2
    head = sink.read(half)
    sink.seek(size - half)
    tail = sink.read(half)
    skipped = size - 2 * half
    return (
        f"{head.decode('utf-8', 'replace')}\n… {skipped} bytes …\n{tail.decode('utf-8', 'replace')}"
    )


def pathspec(excluded: tuple[str, ...]) -> list[str]:
    """All of the worktree but the files copied in from the main checkout."""
    return ["--", ".", *(f":(exclude,literal){entry}" for entry in excluded)]


def uncommitted(path: Path, excluded: tuple[str, ...] = ()) -> list[str]:
    """Uncommitted changes in a worktree (tracked or untracked, ignored files aside)."""
    status = git.run(
        path, "status", "--porcelain", "-z", "--untracked-files=all", *pathspec(excluded)
    ).stdout
    entries = iter(status.split(b"\0"))
    changed = []
    for entry in entries:
        if len(entry) > 3:
            changed.append(entry[3:].decode("utf-8", "replace"))
            if entry[:1] in (b"R", b"C"):
                next(entries, None)  # the rename's original path
    return changed


def remove(ws: Workspace) -> None:
    """Delete the worktree whatever is in it: callers have checked what may be lost."""
    path = Path(ws.path)
    if path.exists():
        git.run(ws.repo, "worktree", "remove", "--force", "--force", str(path))
    git.run(ws.repo, "worktree", "prune")
