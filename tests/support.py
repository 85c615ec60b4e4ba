"""Helpers shared by tests that start tether as a subprocess."""

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.engine.conftest import write_config

from tether.ledger import changes
from tether.ledger.changes import Cursor
from tether.ledger.history import ENTRY_COLUMNS
from tether.ledger.schema import changes as changes_table
from tether.ledger.schema import events as events_table
from tether.ledger.store import Ledger

TETHER = [sys.executable, "-m", "tether.cli.main"]
DEADLINE_S = 180


def daemon_env(home: Path, **extra: str) -> dict[str, str]:
    """The caller's environment for a tether process on ``home``.

    Other TETHER_* settings are dropped, and the history indexer is pointed at
    empty directories under ``home`` so a test never reads the machine's own
    agent logs.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    native = home / "native-logs"
    env.update(
        TETHER_HOME=str(home),
        TETHER_HISTORY_CODEX_HOME=str(native / "codex"),
        TETHER_HISTORY_CLAUDE_CONFIG_DIR=str(native / "claude"),
        TETHER_HISTORY_GEMINI_CLI_HOME=str(native / "gemini"),
        TETHER_HISTORY_XDG_DATA_HOME=str(native / "xdg"),
        **extra,
    )
    return env


class CliHome:
    """A TETHER_HOME driven through the installed CLI, with the fake agent's work dir.

    ``serve`` starts ``tether serve`` in its own session and waits until the
    daemon answers; ``self.proc`` is the last daemon started.
    """

    def __init__(self, path: Path, work: Path, **env: str) -> None:
        self.path = path
        self.work = work
        self.env = daemon_env(path, FAKE_AGENT_HOME=str(work), **env)
        self.proc: subprocess.Popen[bytes] | None = None

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*TETHER, *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def json(self, *args: str) -> dict[str, object]:
        result = self.run(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    def info(self) -> dict[str, object] | None:
        try:
            return json.loads((self.path / "daemon.json").read_text())  # type: ignore[no-any-return]
        except (FileNotFoundError, ValueError):
            return None

    def start(self) -> subprocess.Popen[bytes]:
        """Start ``tether serve`` without waiting for it to answer."""
        self.proc = subprocess.Popen(
            [*TETHER, "serve"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(self.path / "serve.log").open("ab"),
            start_new_session=True,
        )
        return self.proc

    def serve(self) -> subprocess.Popen[bytes]:
        """Start ``tether serve`` and wait until it answers."""
        proc = self.start()
        self.wait_for_daemon(proc=proc)
        return proc

    def wait_for_daemon(
        self, not_pid: int | None = None, proc: subprocess.Popen[bytes] | None = None
    ) -> dict[str, object]:
        """Wait until a daemon (not ``not_pid``) answers; fail early if ``proc`` died."""
        deadline = time.monotonic() + DEADLINE_S
        while True:
            info = self.info()
            ready = info is not None and info["pid"] != not_pid
            if ready and self.run("daemon", "status").returncode == 0:
                return info  # type: ignore[return-value]
            assert proc is None or proc.poll() is None, "serve exited before answering"
            assert time.monotonic() < deadline, "no daemon came up"
            time.sleep(0.1)


def cli_home(tmp_path: Path) -> CliHome:
    """A home whose project ``work`` runs the fake agent (tests/engine/conftest.py)."""
    path, work = tmp_path / "home", tmp_path / "work"
    path.mkdir()
    work.mkdir()
    write_config(path)
    home = CliHome(path, work)
    added = home.run("project", "add", str(work), "--name", "work", "--agent", "fake")
    assert added.returncode == 0, added.stderr
    return home


def imported(args: list[str], env: dict[str, str] | None = None) -> tuple[str, set[str]]:
    """stdout of ``tether ARGS``, and the modules it imported, packages included
    (-X importtime): ``sqlalchemy`` for any of SQLAlchemy's, ``tether.config`` for that one."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tether.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = {
        line.split("|")[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    return done.stdout, names


def stub_agents(directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Executables named like the built-in agents, first on PATH.

    For tests where an agent is only data (accepting, keys, roles, attacks):
    spawn and send refuse an agent that is not installed, and these tests
    never run one.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for agent in ("claude", "codex", "gemini", "goose", "opencode"):
        stub = directory / agent
        stub.write_text("#!/bin/sh\necho 'a stub agent: this test never runs one' >&2\nexit 3\n")
        stub.chmod(0o755)
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ.get('PATH', '')}")


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    """The condition's first truthy value, or a failure after minutes (never a fixed sleep)."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not within {DEADLINE_S:.0f}s: {what}")


def settled_head(ledger: Ledger) -> Cursor:
    """The change feed's head once it covers every row committed so far.

    On PostgreSQL the feed reads only below the oldest transaction running in
    its database, so anyone's write transaction (another test's) holds it back
    for a while; a test that starts reading from the head waits for that.
    """
    deadline = time.monotonic() + DEADLINE_S
    while True:
        with ledger.db.read() as conn:
            head = changes.head(conn)
            newest = (
                conn.execute(select(func.max(changes_table.c.id))).scalar() or 0,
                conn.execute(select(func.max(events_table.c.id))).scalar() or 0,
            )
        if (head.change, head.event) == newest:
            return head
        assert time.monotonic() < deadline, f"the feed's head {head} never reached {newest}"
        time.sleep(0.05)


def entry_row(fields: dict[str, object]) -> tuple[object, ...]:
    """A usage entry row from its named fields, in the ledger's column order."""
    return tuple(fields[column] for column in ENTRY_COLUMNS)


def usage_entry(key: str, model: str, day: str, cost: float | None) -> tuple[object, ...]:
    """A Codex usage entry of 135 tokens (100 input, 20 cached, 5 cache write, 10 output)."""
    return entry_row(
        {
            "agent": "codex",
            "entry_key": key,
            "native_id": f"thread-{key}",
            "copied": 0,
            "origin_ts": 1767225600.0,
            "ts": 1767225600.0,
            "day": day,
            "turn_key": None,
            "model": model,
            "input_tokens": 100,
            "cached_input_tokens": 20,
            "cache_write_tokens": 5,
            "output_tokens": 10,
            "reasoning_tokens": 3,
            "cost": cost,
        }
    )
