"""Where each agent keeps its native logs, and the files found there.

Roots come from the environment variables the CLIs themselves honour
(CODEX_HOME, CLAUDE_CONFIG_DIR, GEMINI_CLI_HOME, XDG_DATA_HOME, HOME),
each overridable by a ``[history]`` setting.
"""

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tether.config import HistorySettings


@dataclass(frozen=True, slots=True)
class Roots:
    codex: Path
    claude: tuple[Path, ...]
    gemini: Path
    opencode_db: Path


def _home(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("HOME") or Path.home())


def roots(settings: HistorySettings, environ: Mapping[str, str] = os.environ) -> Roots:
    home = _home(environ)
    codex = settings.codex_home or environ.get("CODEX_HOME") or str(home / ".codex")
    claude = settings.claude_config_dir or environ.get("CLAUDE_CONFIG_DIR") or ""
    claude_dirs = tuple(Path(p).expanduser() for p in claude.split(",") if p.strip()) or (
        home / ".claude",
    )
    gemini = settings.gemini_cli_home or environ.get("GEMINI_CLI_HOME") or str(home)
    data = settings.xdg_data_home or environ.get("XDG_DATA_HOME") or str(home / ".local/share")
    return Roots(
        codex=Path(codex).expanduser(),
        claude=claude_dirs,
        gemini=Path(gemini).expanduser() / ".gemini",
        opencode_db=Path(data).expanduser() / "opencode" / "opencode.db",
    )


def _walk(top: Path, suffixes: tuple[str, ...]) -> Iterator[os.DirEntry[str]]:
    """Files under ``top`` ending in one of ``suffixes``; unreadable dirs are skipped."""
    stack = [str(top)]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.name.endswith(suffixes):
                yield entry


def log_entries(found: Roots) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """``(agent, directory entry)`` of every line-oriented native log under the roots (no
    Path objects: a warm ``tether index`` only stats them)."""
    for sub in ("sessions", "archived_sessions"):
        for entry in _walk(found.codex / sub, (".jsonl", ".jsonl.zst")):
            if entry.name.startswith("rollout-"):
                yield "codex", entry
    for root in found.claude:
        for entry in _walk(root / "projects", (".jsonl", ".jsonl.zst")):
            yield "claude", entry
    for entry in _walk(found.gemini / "tmp", (".jsonl",)):
        if os.path.basename(os.path.dirname(entry.path)) == "chats":
            yield "gemini", entry


def log_files(found: Roots) -> Iterator[tuple[str, Path]]:
    """``(agent, path)`` of every line-oriented native log under the roots."""
    for agent, entry in log_entries(found):
        yield agent, Path(entry.path)
