"""The files a runner and the daemon share under ``$TETHER_HOME/runs/<turn id>/``.

The runner writes; the daemon reads. Small JSON files are written to a
temporary name and renamed, so a reader never sees half of one. Standard
library only: the runner imports this module and must start fast.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LAUNCH = "launch.json"  # argv, cwd, env additions (never secrets)
RUNNER = "runner.json"  # runner pid and start ticks, agent pid once spawned
EXIT = "exit.json"  # how the agent ended; absent while it runs
STREAM = "stream"  # the agent's stdout, byte for byte
STDERR_TAIL = "stderr.tail"  # the last STDERR_TAIL_BYTES of the agent's stderr
STDERR_TAIL_BYTES = 64 * 1024
OWNER = "owner.lock"  # flocked by the runner that owns the attempt (engine/ownership.py)


def write_json(path: Path, value: dict[str, Any], durable: bool = True) -> None:
    """Atomic (rename); ``durable`` also survives a power cut (fsync), at a cost per write."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w") as handle:
        json.dump(value, handle)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def launch(self) -> Path:
        return self.path / LAUNCH

    @property
    def runner(self) -> Path:
        return self.path / RUNNER

    @property
    def exit(self) -> Path:
        return self.path / EXIT

    @property
    def stream(self) -> Path:
        return self.path / STREAM

    @property
    def owner(self) -> Path:
        return self.path / OWNER

    @property
    def stderr_tail(self) -> Path:
        return self.path / STDERR_TAIL

    def stderr_text(self) -> str:
        try:
            return self.stderr_tail.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def archive_attempt(self, attempt: int) -> None:
        """Move a failed attempt's files aside so the next attempt starts clean."""
        target = self.path / f"attempt-{attempt}"
        target.mkdir(exist_ok=True)
        for name in (RUNNER, EXIT, STREAM, STDERR_TAIL, OWNER):
            source = self.path / name
            if source.exists():
                os.replace(source, target / name)
