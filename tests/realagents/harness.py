"""Drive the real agent CLIs offline against tests.fakes.model_server.

One declarative :class:`AgentSpec` per CLI says how to build an isolated home
(config files pointing at the model server), which environment to pass, the
argv for a headless new turn and for a resume by id, how to read the native id
from the stdout stream, and where the native log for an id lives.  The generic
code (:class:`AgentHome`, :func:`run_turn`) never branches on the agent.

Rules every run follows (see /work/shared/AGENT_CLIS.md):

* stdin is /dev/null (Codex blocks until stdin closes; Claude waits 3 s);
* argv is a list, never a shell string;
* the environment is built from scratch (``env -i`` style): HOME and every
  XDG_* dir point into the temp home, so nothing of the real user leaks in and
  nothing is written outside the temp dir;
* every URL the CLIs are given is the loopback model server (npm registry
  look-ups included: ``npm_config_registry`` points at the server, which
  answers 404).

The CLIs come from ``scripts/install-agents.sh`` (pinned versions in
``scripts/agents.lock.json``); :func:`agents_bin_dir` runs it (a fast no-op
when already installed) unless ``TETHER_AGENTS_BIN`` names a bin dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO / "scripts" / "install-agents.sh"
LOCK_FILE = REPO / "scripts" / "agents.lock.json"

__all__ = [
    "AGENTS",
    "AgentHome",
    "AgentNotInstalled",
    "AgentSpec",
    "TurnResult",
    "agents_bin_dir",
    "agents_dir",
    "run_turn",
]


class AgentNotInstalled(RuntimeError):
    """The pinned agent CLI is not installed and could not be installed."""


# --------------------------------------------------------------------------
# Installation
# --------------------------------------------------------------------------


def agents_dir() -> Path:
    return Path(os.environ.get("TETHER_AGENTS_DIR") or Path.home() / ".cache" / "tether" / "agents")


@lru_cache(maxsize=1)
def agents_bin_dir() -> Path:
    """The bin dir holding codex, claude, opencode and gemini (installs them if needed)."""
    if os.environ.get("TETHER_AGENTS_BIN"):
        return Path(os.environ["TETHER_AGENTS_BIN"])
    try:
        proc = subprocess.run(
            ["bash", str(INSTALL_SCRIPT)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AgentNotInstalled(f"{INSTALL_SCRIPT} could not run: {exc}") from exc
    if proc.returncode != 0:
        raise AgentNotInstalled(
            f"{INSTALL_SCRIPT} failed (rc={proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    return Path(proc.stdout.strip().splitlines()[-1])


def pinned_versions() -> dict[str, str]:
    return json.loads(LOCK_FILE.read_text())["packages"]


# --------------------------------------------------------------------------
# Per-agent specs
# --------------------------------------------------------------------------

#: Placeholders in argv templates: {prompt}, {model}, {id}, {cwd}.  The item
#: "{prompt_words}" expands to the prompt split on whitespace (OpenCode wraps a
#: single argv containing spaces in literal quotes).


@dataclass(frozen=True)
class AgentSpec:
    name: str
    bin: str
    model: str
    #: argv after the binary for a new turn / for a resume of ``{id}``
    new_argv: tuple[str, ...]
    resume_argv: tuple[str, ...]
    #: True when tether may choose the id up front (passed as ``{id}`` to new_argv)
    preassign_id: bool
    #: extra environment; values may use {url}, {model} and the AgentHome.LAYOUT keys
    #: ({home}, {codex}, {claude}, {gemini}, {xdg_config}, ...)
    env: dict[str, str]
    #: config files to write: path -> contents, both with the same placeholders
    files: dict[str, str]
    #: the native id carried by one parsed stdout event, or None
    id_of_event: Callable[[dict], str | None]
    #: assistant text carried by one parsed stdout event ("" if none); joined
    #: over the stream it gives the turn's answer (Gemini streams deltas)
    text_of_event: Callable[[dict], str]
    #: native log files for an id, given the AgentHome; the session's main log first
    native_logs: Callable[[AgentHome, str], list[Path]]
    #: optional extra home setup (e.g. Codex's model catalog)
    prepare: Callable[[AgentHome], None] | None = None
    #: the shell tool as the model protocol spells it (documentation only)
    shell_tool: str = ""
    #: the model server protocol this CLI speaks (as logged by the server)
    protocol: str = ""


def _codex_logs(home: AgentHome, native_id: str) -> list[Path]:
    root = home.path("codex")
    return sorted(
        p
        for sub in ("sessions", "archived_sessions")
        for p in (root / sub).glob(f"*/*/*/rollout-*-{native_id}.jsonl*")
    )


def _claude_logs(home: AgentHome, native_id: str) -> list[Path]:
    # <config>/projects/<slug of cwd>/<id>.jsonl, and its sub-agents' transcripts under
    # <id>/subagents/; glob rather than re-deriving the slug.
    projects = home.path("claude") / "projects"
    own = sorted(projects.glob(f"*/{native_id}.jsonl"))
    return own + sorted(projects.glob(f"*/{native_id}/subagents/*.jsonl"))


def _gemini_logs(home: AgentHome, native_id: str) -> list[Path]:
    """Chat files whose header names the id, the session's own (earliest) first.

    Gemini CLI 0.61.0 names chat files by the minute a run starts: a resume in a
    later minute appends the turn to the original file *and* leaves a new
    ``session-<new minute>-<id8>.jsonl`` holding only the header and the
    session-context ``$set``."""
    found = []
    for p in home.path("gemini").glob(f".gemini/tmp/*/chats/session-*-{native_id[:8]}.jsonl"):
        with p.open(encoding="utf-8") as f:
            first = json.loads(f.readline() or "{}")
        if first.get("sessionId") == native_id:
            found.append((first.get("startTime", ""), p))
    return [p for _, p in sorted(found)]


def _opencode_logs(home: AgentHome, native_id: str) -> list[Path]:
    db = home.path("xdg_data") / "opencode" / "opencode.db"
    return [db] if db.exists() and opencode_rows(db, native_id)["session"] else []


def opencode_rows(db: Path, session_id: str) -> dict[str, list[dict]]:
    """The rows of OpenCode's SQLite store that belong to one session (read-only)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    con.row_factory = sqlite3.Row
    try:
        out: dict[str, list[dict]] = {}
        for table, col in (("session", "id"), ("message", "session_id"), ("part", "session_id")):
            cols = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
            if col not in cols:
                out[table] = []
                continue
            order = "time_created" if "time_created" in cols else "rowid"
            rows = con.execute(
                f"SELECT * FROM {table} WHERE {col} = ? ORDER BY {order}, id", (session_id,)
            )
            out[table] = [_decode_row(dict(r)) for r in rows]
        return out
    finally:
        con.close()


def _decode_row(row: dict) -> dict:
    for k, v in list(row.items()):
        if isinstance(v, str) and v[:1] in "{[":
            with contextlib.suppress(ValueError):
                row[k] = json.loads(v)
        elif isinstance(v, bytes):
            row[k] = f"<{len(v)} bytes>"
    return row


def _codex_catalog(home: AgentHome) -> None:
    """Codex warns about unknown model slugs unless a catalog names them: copy a
    bundled entry with classic tools under our slug."""
    bundled = _bundled_codex_models(str(home.bin_dir / "codex"))
    classic = [m for m in bundled if m.get("tool_mode") is None and not m.get("use_responses_lite")]
    if not classic:
        raise AgentNotInstalled("codex debug models --bundled lists no model with classic tools")
    entry = dict(classic[0], slug=CODEX.model, display_name=CODEX.model)
    (home.path("codex") / "catalog.json").write_text(json.dumps({"models": [entry]}))


@lru_cache(maxsize=4)
def _bundled_codex_models(codex: str) -> list[dict]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="codex-catalog-") as tmp:
        proc = subprocess.run(
            [codex, "debug", "models", "--bundled"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp, "CODEX_HOME": tmp},
        )
    if proc.returncode != 0:
        raise AgentNotInstalled(f"codex debug models --bundled failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)["models"]


def _opencode_plugin(home: AgentHome) -> None:
    """Pre-install @opencode-ai/plugin in OpenCode's config dir (from the agents
    cache) so it does not try to install it in the background."""
    src = agents_dir() / "opencode-plugin"
    dst = home.path("xdg_config") / "opencode"
    if not (src / "node_modules" / "@opencode-ai" / "plugin").exists():
        raise AgentNotInstalled(f"{src} lacks @opencode-ai/plugin: run {INSTALL_SCRIPT}")
    shutil.copy(src / "package.json", dst / "package.json")
    # A link, not a copy (63 MB): OpenCode only reads it once the version matches.
    os.symlink(src / "node_modules", dst / "node_modules")


CODEX = AgentSpec(
    name="codex",
    bin="codex",
    model="mock-model",
    protocol="responses",
    shell_tool="exec_command (function_call)",
    new_argv=(
        "exec",
        "--json",
        "--skip-git-repo-check",
        "-s",
        "workspace-write",
        "-m",
        "{model}",
        "{prompt}",
    ),
    resume_argv=(
        "exec",
        "--json",
        "--skip-git-repo-check",
        "-s",
        "workspace-write",
        "-m",
        "{model}",
        "resume",
        "{id}",
        "{prompt}",
    ),
    preassign_id=False,
    env={"CODEX_HOME": "{codex}", "MOCK_API_KEY": "dummy", "CODEX_DISABLE_TELEMETRY": "1"},
    files={
        "{codex}/config.toml": """\
model = "{model}"
model_provider = "mock"
model_catalog_json = "{codex}/catalog.json"
check_for_update_on_startup = false

[model_providers.mock]
name = "mock"
base_url = "{url}/v1"
wire_api = "responses"
env_key = "MOCK_API_KEY"
request_max_retries = 0
stream_max_retries = 0
# default 300 s: a model server that stalls mid-stream fails the turn after 60 s
stream_idle_timeout_ms = 60000

[features]
plugins = false
unbounded_connection_retries = false

[analytics]
enabled = false

[otel]
metrics_exporter = "none"
"""
    },
    id_of_event=lambda e: e.get("thread_id") if e.get("type") == "thread.started" else None,
    text_of_event=lambda e: (
        e["item"].get("text", "") + "\n"
        if e.get("type") == "item.completed" and e.get("item", {}).get("type") == "agent_message"
        else ""
    ),
    native_logs=_codex_logs,
    prepare=_codex_catalog,
)

CLAUDE = AgentSpec(
    name="claude",
    bin="claude",
    model="claude-sonnet-4-5",
    protocol="anthropic",
    shell_tool="Bash (tool_use)",
    # As root --dangerously-skip-permissions needs IS_SANDBOX=1 (set below).
    new_argv=(
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--session-id={id}",
        "--dangerously-skip-permissions",
        "--model",
        "{model}",
        "{prompt}",
    ),
    resume_argv=(
        "-p",
        "--resume={id}",
        "--output-format",
        "stream-json",
        "--verbose",
        "--dangerously-skip-permissions",
        "--model",
        "{model}",
        "{prompt}",
    ),
    preassign_id=True,
    env={
        "CLAUDE_CONFIG_DIR": "{claude}",
        "ANTHROPIC_BASE_URL": "{url}",
        "ANTHROPIC_API_KEY": "dummy",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
        "DISABLE_AUTOUPDATER": "1",
        "IS_SANDBOX": "1",
    },
    files={},
    id_of_event=lambda e: (
        e.get("session_id") if e.get("type") == "system" and e.get("subtype") == "init" else None
    ),
    text_of_event=lambda e: (
        "".join(
            b.get("text", "") + "\n"
            for b in (e.get("message") or {}).get("content", [])
            if isinstance(b, dict) and b.get("type") == "text"
        )
        if e.get("type") == "assistant"
        else ""
    ),
    native_logs=_claude_logs,
)

OPENCODE = AgentSpec(
    name="opencode",
    bin="opencode",
    model="mock-model",
    protocol="chat",
    shell_tool="bash (tool_calls)",
    new_argv=("run", "--format", "json", "-m", "mock/{model}", "{prompt_words}"),
    resume_argv=(
        "run",
        "--session",
        "{id}",
        "--format",
        "json",
        "-m",
        "mock/{model}",
        "{prompt_words}",
    ),
    preassign_id=False,
    env={
        "OPENCODE_DISABLE_MODELS_FETCH": "1",
        "OPENCODE_DISABLE_AUTOUPDATE": "1",
        "OPENCODE_DISABLE_SHARE": "1",
    },
    files={
        "{xdg_config}/opencode/opencode.json": json.dumps(
            {
                "$schema": "https://opencode.ai/config.json",
                "autoupdate": False,
                "share": "disabled",
                "model": "mock/{model}",
                "small_model": "mock/{model}",
                "provider": {
                    "mock": {
                        "npm": "@ai-sdk/openai-compatible",
                        "name": "Mock",
                        "options": {"baseURL": "{url}/v1", "apiKey": "dummy"},
                        "models": {"{model}": {"name": "{model}", "tool_call": True}},
                    }
                },
            },
            indent=2,
        )
    },
    id_of_event=lambda e: e.get("sessionID"),
    text_of_event=lambda e: e["part"].get("text", "") + "\n" if e.get("type") == "text" else "",
    native_logs=_opencode_logs,
    prepare=_opencode_plugin,
)

GEMINI = AgentSpec(
    name="gemini",
    bin="gemini",
    model="gemini-2.5-flash",
    protocol="gemini",
    shell_tool="run_shell_command (functionCall)",
    new_argv=(
        "-p",
        "{prompt}",
        "-o",
        "stream-json",
        "-m",
        "{model}",
        "--session-id",
        "{id}",
        "--yolo",
    ),
    resume_argv=(
        "-p",
        "{prompt}",
        "-o",
        "stream-json",
        "-m",
        "{model}",
        "--resume",
        "{id}",
        "--yolo",
    ),
    preassign_id=True,
    env={
        "GEMINI_CLI_HOME": "{gemini}",
        "GEMINI_API_KEY": "dummy",
        "GOOGLE_GEMINI_BASE_URL": "{url}",
        "GEMINI_CLI_TRUST_WORKSPACE": "true",
    },
    files={
        "{gemini}/.gemini/settings.json": json.dumps(
            {
                "security": {"auth": {"selectedType": "gemini-api-key"}},
                "privacy": {"usageStatisticsEnabled": False},
                "telemetry": {"enabled": False},
                # No retries: maxAttempts 1 (default 10) and no retry of "fetch failed"
                # (connection refused), which otherwise backs off for minutes.
                "general": {
                    "enableAutoUpdate": False,
                    "enableAutoUpdateNotification": False,
                    "maxAttempts": 1,
                    "retryFetchErrors": False,
                    # Gemini CLI's start-up session cleanup can delete a session that
                    # was just resumed by id (upstream gemini-cli #27368): seen here as
                    # a chat file vanishing or shrinking after another session started.
                    "sessionRetention": {"enabled": False},
                },
            },
            indent=2,
        )
    },
    id_of_event=lambda e: e.get("session_id") if e.get("type") == "init" else None,
    text_of_event=lambda e: (
        e.get("content", "") if e.get("type") == "message" and e.get("role") == "assistant" else ""
    ),
    native_logs=_gemini_logs,
)

AGENTS: dict[str, AgentSpec] = {s.name: s for s in (CODEX, CLAUDE, OPENCODE, GEMINI)}


# --------------------------------------------------------------------------
# Isolated homes and runs
# --------------------------------------------------------------------------


@dataclass
class AgentHome:
    """An isolated home for one agent under ``root``, wired to the model server at ``url``."""

    spec: AgentSpec
    root: Path
    url: str
    bin_dir: Path = field(default_factory=agents_bin_dir)

    # Directory layout: everything lives under root/home except the work dir.
    LAYOUT = {
        "home": "home",
        "xdg_config": "home/.config",
        "xdg_data": "home/.local/share",
        "xdg_state": "home/.local/state",
        "xdg_cache": "home/.cache",
        "codex": "home/.codex",
        "claude": "home/.claude",
        "gemini": "home",  # GEMINI_CLI_HOME: Gemini adds .gemini/ itself
        "work": "work",
        "tmp": "tmp",
    }

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        for key in self.LAYOUT:
            self.path(key).mkdir(parents=True, exist_ok=True)
        binary = self.bin_dir / self.spec.bin
        if not os.access(binary, os.X_OK):
            raise AgentNotInstalled(f"{self.spec.name}: {binary} is missing; run {INSTALL_SCRIPT}")
        self._write_config()
        if self.spec.prepare:
            self.spec.prepare(self)

    def _write_config(self) -> None:
        for rel, text in self.spec.files.items():
            target = Path(self._fmt(rel))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(self._fmt(text))

    def rewire(self, url: str) -> None:
        """Point this home at another model server URL (config files and env)."""
        self.url = url
        self._write_config()

    def path(self, key: str) -> Path:
        return self.root / self.LAYOUT[key]

    @property
    def work(self) -> Path:
        return self.path("work")

    def _vars(self) -> dict[str, str]:
        v = {k: str(self.path(k)) for k in self.LAYOUT}
        v.update(url=self.url, model=self.spec.model)
        return v

    def _fmt(self, text: str) -> str:
        # str.format would trip over JSON braces: replace known placeholders only.
        for k, val in self._vars().items():
            text = text.replace("{" + k + "}", val)
        return text

    def env(self) -> dict[str, str]:
        node_dir = os.path.dirname(shutil.which("node") or "/usr/bin/node")
        env = {
            "PATH": os.pathsep.join(
                [str(self.bin_dir), node_dir, "/usr/local/bin", "/usr/bin", "/bin"]
            ),
            "HOME": str(self.path("home")),
            "XDG_CONFIG_HOME": str(self.path("xdg_config")),
            "XDG_DATA_HOME": str(self.path("xdg_data")),
            "XDG_STATE_HOME": str(self.path("xdg_state")),
            "XDG_CACHE_HOME": str(self.path("xdg_cache")),
            "TMPDIR": str(self.path("tmp")),
            # OpenCode takes its directory from $PWD when set, not from the
            # process cwd: keep the two equal (run_turn runs in self.work).
            "PWD": str(self.work),
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            "NO_COLOR": "1",
            "CI": "1",
            # Any npm look-up a CLI makes goes to the model server (404), never out.
            "npm_config_registry": f"{self.url}/_npm/",
            "NO_PROXY": "127.0.0.1,localhost",
        }
        env.update({k: self._fmt(v) for k, v in self.spec.env.items()})
        return env

    def argv(
        self,
        prompt: str,
        *,
        resume_id: str | None = None,
        native_id: str | None = None,
        extra: tuple[str, ...] = (),
    ) -> list[str]:
        """Exact argv for a new turn (``native_id`` pre-assigned where allowed) or a resume."""
        template = self.spec.resume_argv if resume_id else self.spec.new_argv
        ident = resume_id or native_id or ""
        out = [str(self.bin_dir / self.spec.bin)]
        for item in template:
            if item == "{prompt_words}":
                out.extend(prompt.split())
                continue
            out.append(
                item.replace("{prompt}", prompt)
                .replace("{model}", self.spec.model)
                .replace("{id}", ident)
                .replace("{cwd}", str(self.work))
            )
        return out + list(extra)

    def native_logs(self, native_id: str) -> list[Path]:
        return self.spec.native_logs(self, native_id)

    def native_log_size(self, native_id: str) -> int:
        """Bytes of the main native log, or for a SQLite store the session's row count."""
        logs = self.native_logs(native_id)
        if not logs:
            return 0
        if logs[0].suffix == ".db":
            return sum(len(rows) for rows in opencode_rows(logs[0], native_id).values())
        return logs[0].stat().st_size


@dataclass
class TurnResult:
    agent: str
    argv: list[str]
    returncode: int | None  # None: killed on timeout
    stdout: str
    stderr: str
    duration: float
    events: list[dict]
    native_id: str | None
    timed_out: bool = False
    text: str = ""  # the assistant's text, from the stream

    def dump(self) -> str:
        return (
            f"{self.agent}: rc={self.returncode} in {self.duration:.1f}s "
            f"timed_out={self.timed_out}\n"
            f"argv={self.argv}\n--- stdout (tail) ---\n{self.stdout[-3000:]}\n"
            f"--- stderr (tail) ---\n{self.stderr[-3000:]}"
        )


def parse_stream(stdout: str) -> list[dict]:
    events = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    return events


def run_turn(
    home: AgentHome,
    prompt: str,
    *,
    resume_id: str | None = None,
    timeout: float = 300,
    native_id: str | None = None,
) -> TurnResult:
    """Run one headless turn (new, or resume of ``resume_id``) and wait for it.

    For agents that accept a pre-assigned id a fresh uuid is chosen for new
    turns unless ``native_id`` is given.
    """
    if resume_id is None and home.spec.preassign_id and native_id is None:
        native_id = str(uuid.uuid4())
    return run_argv(home, home.argv(prompt, resume_id=resume_id, native_id=native_id), timeout)


def run_argv(home: AgentHome, argv: list[str], timeout: float = 300) -> TurnResult:
    """Run one headless invocation with exactly ``argv`` (e.g. a fork) in ``home``."""
    start = time.monotonic()
    timed_out = False
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=home.work,
        env=home.env(),
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        out, err = proc.communicate()
    duration = time.monotonic() - start
    events = parse_stream(out)
    found = next((i for i in map(home.spec.id_of_event, events) if i), None)
    text = "".join(map(home.spec.text_of_event, events))
    return TurnResult(
        home.spec.name,
        argv,
        None if timed_out else proc.returncode,
        out,
        err,
        duration,
        events,
        found,
        timed_out,
        text,
    )


def _kill_group(proc: subprocess.Popen[Any]) -> None:
    import signal

    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue
