"""Drive the real agent CLIs *through tether*: an in-process Engine running real
runner processes, wired to an :class:`AgentHome` and the loopback model server.

The runner inherits the environment of the process that starts the engine, so
:func:`isolate_env` puts the AgentHome's environment (HOME, XDG_*, the CLI's
offline settings) into it and removes anything of the real user's that could
leak in (API keys, CLI homes).  ``TETHER_HOME/config.toml`` names the pinned
binary with ``[agents.NAME] command`` and sets the ``[engine]`` timeouts; the
session's project path is ``AgentHome.work``.

Used by ``tests/realagents/test_through_tether.py`` and ``bench/agents.py``.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.realagents.harness import AgentHome, AgentSpec, opencode_rows, parse_stream

from tether.config import Config, load
from tether.domain.records import Event, EventKind, Session, Turn
from tether.engine import accept
from tether.engine.rundir import RunDir, read_json
from tether.engine.supervisor import Engine
from tether.ledger import events, projects, sessions, turns
from tether.ledger.store import Ledger, open_ledger

__all__ = [
    "ENGINE_DEFAULTS",
    "Rig",
    "isolate_env",
    "model_for",
    "native_log_text",
    "native_thread_ids",
    "open_rig",
    "recorded_id",
    "write_tether_config",
]

#: Engine settings for the real-agent tests: generous enough for four node CLIs
#: starting on a loaded 2-core machine.  ``start_retries`` stays tether's default:
#: two OpenCode processes started at once on a fresh data dir race on its schema
#: migration and one exits 1 before its first event, which is exactly the failure
#: the engine's pre-start retry exists for.
ENGINE_DEFAULTS: dict[str, float] = {
    "max_parallel": 8,
    "start_timeout_s": 120,
    "idle_timeout_s": 120,
    "abort_after_s": 30,
}

#: Variables of the real user's environment that must not reach an agent.
LEAKY_PREFIXES = (
    "ANTHROPIC_",
    "OPENAI_",
    "CODEX_",
    "CLAUDE_",
    "GEMINI_",
    "GOOGLE_",
    "OPENCODE_",
    "XDG_",
    "AWS_",
    "AZURE_",
    "VERTEX",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "npm_config_",
)


def model_for(spec: AgentSpec) -> str:
    """The model the harness passes on the CLI (the value after -m / --model)."""
    argv = list(spec.new_argv)
    for i, item in enumerate(argv[:-1]):
        if item in ("-m", "--model"):
            return argv[i + 1].replace("{model}", spec.model)
    return spec.model


def isolate_env(
    home: AgentHome, setenv: Callable[[str, str], None], delenv: Callable[[str], None]
) -> dict[str, str]:
    """Make this process's environment the AgentHome's (what a runner inherits)."""
    env = home.env()
    for key in list(os.environ):
        if key not in env and key.startswith(LEAKY_PREFIXES):
            delenv(key)
    for key, value in env.items():
        setenv(key, value)
    return env


def write_tether_config(tether_home: Path, home: AgentHome, **engine: float) -> Path:
    settings = {**ENGINE_DEFAULTS, **engine}
    lines = "\n".join(f"{key} = {value}" for key, value in settings.items())
    binary = home.bin_dir / home.spec.bin
    path = tether_home / "config.toml"
    path.write_text(
        f"[engine]\n{lines}\n\n[server]\nport = 0\n\n"
        f"[agents.{home.spec.name}]\ncommand = {json.dumps(str(binary))}\n"
    )
    return path


@dataclass
class Rig:
    """One engine driving one agent's CLI in ``home.work``."""

    home: AgentHome
    config: Config
    ledger: Ledger
    engine: Engine

    @property
    def agent(self) -> str:
        return self.home.spec.name

    @property
    def model(self) -> str:
        return model_for(self.home.spec)

    def spawn(self, prompt: str) -> accept.Accepted:
        accepted = accept.spawn(
            self.config, self.ledger, prompt, project="work", agent=self.agent, model=self.model
        )
        self.engine.poke()
        return accepted

    def send(self, session_id: str, prompt: str) -> accept.Accepted:
        accepted = accept.send(self.config, self.ledger, session_id, prompt)
        self.engine.poke()
        return accepted

    def turn(self, turn_id: str) -> Turn:
        with self.ledger.db.read() as conn:
            return turns.get(conn, turn_id)

    def wait(self, turn_id: str, timeout: float = 400) -> Turn:
        deadline = time.monotonic() + timeout
        while True:
            turn = self.turn(turn_id)
            if turn.state.terminal:
                return turn
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.agent}: {turn_id} still {turn.state} after {timeout:g}s "
                    f"(phases {turn.phases})\n{self.dump(turn_id)}"
                )
            time.sleep(0.05)

    def session(self, session_id: str) -> Session:
        with self.ledger.db.read() as conn:
            return sessions.get(conn, session_id)

    def events(self, session_id: str, turn_id: str | None = None) -> list[Event]:
        with self.ledger.db.read() as conn:
            found = list(reversed(events.page(conn, session_id, limit=500).items))
        return [e for e in found if turn_id is None or e.turn_id == turn_id]

    def text(self, session_id: str, turn_id: str) -> str:
        """The assistant's text of one turn, as tether recorded it."""
        messages = self.events(session_id, turn_id)
        return "".join(e.preview for e in messages if e.kind is EventKind.MESSAGE)

    def run_dir(self, turn_id: str) -> RunDir:
        return RunDir(self.config.runs_dir / turn_id)

    def stream_native_id(self, turn_id: str) -> str | None:
        """The id the agent's own stdout names (read with the harness's spec, not tether's)."""
        stream = self.run_dir(turn_id).stream
        found = parse_stream(stream.read_text(errors="replace")) if stream.exists() else []
        return next((i for i in map(self.home.spec.id_of_event, found) if i), None)

    def dump(self, turn_id: str) -> str:
        run = self.run_dir(turn_id)
        stream = run.stream.read_text(errors="replace") if run.stream.exists() else "<none>"
        launch = read_json(run.launch)
        turn = self.turn(turn_id)
        shown = [f"{e.kind}: {e.preview[:300]}" for e in self.events(turn.session_id, turn_id)]
        return (
            f"--- {self.agent} {turn_id}: {turn.state} ({turn.reason}) attempts={turn.attempts}\n"
            f"launch={launch}\nexit={read_json(run.exit)}\n"
            f"--- events ---\n" + "\n".join(shown[-40:]) + "\n"
            f"--- stream (tail) ---\n{stream[-3000:]}\n"
            f"--- stderr (tail) ---\n{run.stderr_text()[-3000:]}"
        )

    def close(self, grace: float = 10) -> None:
        """Stop the engine; stop whatever it still runs and wait for the runners to record it."""
        self.engine.stop()
        left = list(self.engine.active.values())
        self.engine.stop_runs()
        deadline = time.monotonic() + grace
        while left and time.monotonic() < deadline:
            left = [a for a in left if not a.run.exit.exists()]
            time.sleep(0.1)
        self.ledger.close()


def open_rig(tether_home: Path, home: AgentHome, **engine: float) -> Rig:
    """Config, ledger, the project at ``home.work`` and a started Engine."""
    write_tether_config(tether_home, home, **engine)
    config = load()
    assert config.home == tether_home, (config.home, tether_home)
    ledger = open_ledger(config)
    with ledger.db.write() as conn:
        projects.add(conn, home.work, name="work", default_agent=home.spec.name)
    engine_ = Engine(config, ledger)
    engine_.start()
    return Rig(home, config, ledger, engine_)


# --------------------------------------------------------------------------
# What the agent's own store says (independent of tether)
# --------------------------------------------------------------------------

_ROLLOUT_ID = re.compile(r"rollout-.*-([0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})\.jsonl")


def _first_record(path: Path) -> dict[str, object]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                value = json.loads(line)
                return value if isinstance(value, dict) else {}
    return {}


def _codex_threads(home: AgentHome) -> set[str]:
    root = home.path("codex")
    return {
        m.group(1)
        for sub in ("sessions", "archived_sessions")
        for p in (root / sub).glob("*/*/*/rollout-*.jsonl*")
        if (m := _ROLLOUT_ID.search(p.name))
    }


def _claude_threads(home: AgentHome) -> set[str]:
    # Top-level transcripts only; subagents live under <slug>/<id>/subagents/.
    return {p.stem for p in home.path("claude").glob("projects/*/*.jsonl")}


def _gemini_threads(home: AgentHome) -> set[str]:
    found = set()
    for p in home.path("gemini").glob(".gemini/tmp/*/chats/session-*.jsonl"):
        sid = _first_record(p).get("sessionId")
        if isinstance(sid, str):
            found.add(sid)
    return found


def native_store_listing(home: AgentHome) -> str:
    """What the agent's store holds, for an assertion message."""
    root = home.path("home")
    return "\n".join(
        f"{p.relative_to(root)}: {p.read_bytes()[:160]!r}"
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix in (".jsonl", ".db") and "node_modules" not in p.parts
    )


def _opencode_threads(home: AgentHome) -> set[str]:
    db = home.path("xdg_data") / "opencode" / "opencode.db"
    if not db.exists():
        return set()
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return {row[0] for row in con.execute("SELECT id FROM session")}
    finally:
        con.close()


_THREADS: dict[str, Callable[[AgentHome], set[str]]] = {
    "codex": _codex_threads,
    "claude": _claude_threads,
    "gemini": _gemini_threads,
    "opencode": _opencode_threads,
}


def native_thread_ids(home: AgentHome) -> set[str]:
    """Every thread the agent's own store holds in this home."""
    return _THREADS[home.spec.name](home)


def recorded_id(home: AgentHome, native_id: str) -> str | None:
    """The session id the main native log records *inside* (not its file name)."""
    logs = home.native_logs(native_id)
    if not logs:
        return None
    log = logs[0]
    if log.suffix == ".db":
        rows = opencode_rows(log, native_id)["message"]
        ids = {r.get("session_id") for r in rows}
        found = ids.pop() if len(ids) == 1 else None
        return found if isinstance(found, str) else None
    first = _first_record(log)
    payload = first.get("payload")
    if isinstance(payload, dict) and first.get("type") == "session_meta":  # Codex
        sid = payload.get("id")
        return sid if isinstance(sid, str) else None
    with log.open(encoding="utf-8") as f:  # Claude: every record; Gemini: the header
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            sid = record.get("sessionId") if isinstance(record, dict) else None
            if isinstance(sid, str):
                return sid
    return None


def native_log_text(home: AgentHome, native_id: str) -> str:
    """All of a thread's native log(s) as text (OpenCode: its rows as JSON)."""
    out = []
    for log in home.native_logs(native_id):
        if log.suffix == ".db":
            out.append(json.dumps(opencode_rows(log, native_id), default=str))
        else:
            out.append(log.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(out)
