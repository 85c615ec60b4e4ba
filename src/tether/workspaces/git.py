"""Running git: argv lists only, a clean environment, errors translated once, here."""

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tether.errors import InvalidInput, WorkspaceError

GIT_TIMEOUT_S = 600.0
# Identity for tether's own checkpoint commits, which never land on a user's branch.
CHECKPOINT_IDENTITY = {
    "GIT_AUTHOR_NAME": "tether",
    "GIT_AUTHOR_EMAIL": "tether@localhost",
    "GIT_COMMITTER_NAME": "tether",
    "GIT_COMMITTER_EMAIL": "tether@localhost",
}


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without GIT_* (a hook's GIT_DIR would redirect every call)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(LC_ALL="C", GIT_TERMINAL_PROMPT="0", **(extra or {}))
    return env


def run(
    cwd: Path | str,
    *args: str,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = GIT_TIMEOUT_S,
) -> subprocess.CompletedProcess[bytes]:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=environment(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
    except FileNotFoundError as exc:
        raise WorkspaceError("git is not installed (or not on PATH); worktrees need it") from exc
    except NotADirectoryError as exc:
        raise WorkspaceError(f"{cwd} is not a directory") from exc
    except subprocess.TimeoutExpired as exc:
        raise WorkspaceError(f"git {args[0]} in {cwd} took over {timeout:g}s") from exc
    if check and done.returncode != 0:
        raise WorkspaceError(f"git {' '.join(args[:3])} in {cwd} failed: {message(done)}")
    return done


def out(cwd: Path | str, *args: str, env: Mapping[str, str] | None = None) -> str:
    return run(cwd, *args, env=env).stdout.decode("utf-8", "replace").strip()


def ok(cwd: Path | str, *args: str) -> bool:
    return run(cwd, *args, check=False).returncode == 0


def message(done: subprocess.CompletedProcess[bytes]) -> str:
    text = (done.stderr or done.stdout).decode("utf-8", "replace").strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return " / ".join(lines[-3:])[:500] or f"exit status {done.returncode}"


def check_ref_name(ref: str) -> str:
    """A ref from outside must not be read as an option by git."""
    if not ref or ref.startswith("-") or len(ref) > 255 or any(c in ref for c in "\0\n"):
        raise InvalidInput(f"{ref[:80]!r} is not a git ref or commit")
    return ref


def run_tool(
    argv: list[str], cwd: Path | str, timeout: float
) -> subprocess.CompletedProcess[bytes]:
    """Another command-line tool (``gh``) next to git: same environment, same translation."""
    try:
        return subprocess.run(
            argv,
            cwd=cwd,
            env=environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
    except OSError as exc:
        raise WorkspaceError(f"cannot run {argv[0]}: {exc.strerror}") from exc
    except subprocess.TimeoutExpired as exc:
        raise WorkspaceError(f"{' '.join(argv[:3])} took over {timeout:g}s") from exc
