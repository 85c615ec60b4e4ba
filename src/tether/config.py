"""Configuration: ``$TETHER_HOME/config.toml``, validated on load.

Every setting is declared once, as a dataclass field with its default and
help text; that declaration drives validation, ``TETHER_<SECTION>_<KEY>``
environment overrides and ``tether config`` documentation. An invalid file
is reported with the file, the key and what is wrong.
"""

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from tether.domain.ids import validate_name
from tether.errors import ConfigError, InvalidId
from tether.home import CONFIG_FILE, home_dir, ledger_url, read_config, string_setting

STREAM_FORMATS = ("codex", "claude", "opencode", "gemini", "goose", "text")


def setting(default: Any, help: str, choices: tuple[str, ...] = ()) -> Any:
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class DefaultsSettings:
    agent: str = setting("codex", "agent of new sessions when neither --agent nor the project says")


@dataclass(frozen=True)
class EngineSettings:
    max_parallel: int = setting(8, "turns running at once across all sessions")
    start_timeout_s: float = setting(90.0, "no event from the agent by then: stop it, turn failed")
    idle_timeout_s: float = setting(600.0, "no progress for this long: the turn shows stalled")
    abort_after_s: float = setting(300.0, "stalled this much longer: stop it, turn timed_out")
    max_turn_s: float = setting(4 * 3600.0, "upper bound on a whole turn")
    start_retries: int = setting(2, "retries of a turn that failed before the agent's first event")
    preview_bytes: int = setting(16 * 1024, "inline preview kept per event; the rest goes to blobs")
    rotate_at: float = setting(0.85, "rotate a thread whose context fill reaches this (0: never)")
    rotate_log_bytes: int = setting(
        256 * 1024 * 1024, "rotate a thread whose native log grows past this (0: never)"
    )
    on_overflow: str = setting(
        "rotate",
        "rotate: a full thread is rotated before the next turn; fail: turns fail",
        choices=("rotate", "fail"),
    )
    handoff_tokens: int = setting(4000, "budget of the digest of earlier exchanges in a hand-off")
    stale_queued_s: float = setting(120.0, "audit: a turn queued this long with its lane free")
    audit_interval_s: float = setting(60.0, "daemon: run the audit's checks this often")


@dataclass(frozen=True)
class ServerSettings:
    host: str = setting("127.0.0.1", "address the daemon binds; off loopback a token is required")
    port: int = setting(7700, "port of the daemon's API and dashboard")
    token: str = setting("", "bearer token for the API; required when host is not loopback")
    max_body_bytes: int = setting(
        2 * 1024 * 1024, "larger request bodies are refused (413) before they are read"
    )
    host_name: str = setting("", "this daemon's name among a ledger's hosts; empty: hostname")
    tls_cert: str = setting("", "PEM certificate: serve HTTPS (with tls_key)")
    tls_key: str = setting("", "PEM private key of tls_cert")
    remote: str = setting(
        "", "CLI: a team daemon's URL to talk to (with token) instead of this home's own"
    )
    remote_ca: str = setting("", "PEM certificate(s) to trust for remote; empty: the system's")


@dataclass(frozen=True)
class TeamSettings:
    heartbeat_s: float = setting(5.0, "a host writes its heartbeat this often")
    host_timeout_s: float = setting(60.0, "a host silent this long is presumed dead by its peers")


@dataclass(frozen=True)
class HistorySettings:
    codex_home: str = setting("", "Codex home to index; empty: $CODEX_HOME or ~/.codex")
    claude_config_dir: str = setting(
        "", "Claude Code config dir to index; empty: $CLAUDE_CONFIG_DIR or ~/.claude"
    )
    gemini_cli_home: str = setting("", "home holding .gemini/; empty: $GEMINI_CLI_HOME or ~")
    xdg_data_home: str = setting(
        "", "data dir holding opencode/; empty: $XDG_DATA_HOME or ~/.local/share"
    )
    index_in_daemon: bool = setting(True, "daemon: index native logs in the background")
    watch_interval_s: float = setting(5.0, "daemon: stat the known native logs this often")
    rescan_interval_s: float = setting(120.0, "daemon: walk the native log roots this often")
    max_line_bytes: int = setting(32 * 1024 * 1024, "longer native log lines are counted, skipped")
    import_transcripts: int = setting(1, "1: import external sessions' transcripts; 0: usage only")


@dataclass(frozen=True)
class WorkspaceSettings:
    huge_file_bytes: int = setting(
        1024 * 1024, "a file's diff larger than this is marked huge and its patch not stored"
    )
    setup_timeout_s: float = setting(1800.0, "a project's setup command running longer fails")


@dataclass(frozen=True)
class NotifySettings:
    webhook: str = setting("", "POST each notice as JSON to this http(s) URL; empty: off")
    command: tuple[str, ...] = setting(
        (), "run this argv for each notice (no shell; {headline} and other fields replaced)"
    )
    timeout_s: float = setting(10.0, "a webhook request or a command taking longer has failed")
    max_attempts: int = setting(
        10, "failed deliveries of one notice, with backoff, before giving up"
    )


@dataclass(frozen=True)
class ProjectWorkspace:
    """``[projects.NAME]``: how sessions of that project get their git worktree."""

    worktree: bool = False
    setup: tuple[tuple[str, ...], ...] = ()
    copy: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeclaredProvider:
    """A provider written in config.toml: argv templates and a stream format."""

    name: str
    new: tuple[str, ...]
    resume: tuple[str, ...] | None
    stream: str


@dataclass(frozen=True)
class Config:
    home: Path
    database_url: str
    defaults: DefaultsSettings = DefaultsSettings()
    engine: EngineSettings = EngineSettings()
    server: ServerSettings = ServerSettings()
    history: HistorySettings = HistorySettings()
    team: TeamSettings = TeamSettings()
    workspaces: WorkspaceSettings = WorkspaceSettings()
    notify: NotifySettings = NotifySettings()
    providers: Mapping[str, DeclaredProvider] = field(default_factory=dict)
    agent_options: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    project_options: Mapping[str, Mapping[str, Mapping[str, object]]] = field(default_factory=dict)
    project_workspaces: Mapping[str, ProjectWorkspace] = field(default_factory=dict)

    @property
    def blobs_dir(self) -> Path:
        return self.home / "blobs"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def worktrees_dir(self) -> Path:
        return self.home / "worktrees"

    def workspace_for(self, project: str) -> ProjectWorkspace:
        return self.project_workspaces.get(project, ProjectWorkspace())

    @property
    def config_file(self) -> Path:
        return self.home / "config.toml"

    @property
    def host_name(self) -> str:
        """This daemon's host name: ``[server] host_name`` or the machine's short hostname."""
        import socket  # the commands that name a host are few (CLI start-up)

        name = self.server.host_name or socket.gethostname().split(".")[0]
        try:
            return validate_name(name, "host name")
        except InvalidId as exc:
            raise ConfigError(f"{exc}; set [server] host_name in {self.config_file}") from exc

    def options_for(self, agent: str, project: str | None) -> dict[str, object]:
        """Agent options: global ``[agents.X]`` overlaid by ``[projects.P.agents.X]``."""
        merged = dict(self.agent_options.get(agent, {}))
        if project is not None:
            merged.update(self.project_options.get(project, {}).get(agent, {}))
        return merged


SECTIONS: dict[str, type] = {
    "defaults": DefaultsSettings,
    "engine": EngineSettings,
    "server": ServerSettings,
    "history": HistorySettings,
    "team": TeamSettings,
    "workspaces": WorkspaceSettings,
    "notify": NotifySettings,
}


def load(environ: Mapping[str, str] = os.environ) -> Config:
    home = Path(home_dir(environ))
    path = home / CONFIG_FILE
    raw = read_config(str(path))
    known = {*SECTIONS, "database", "providers", "agents", "projects"}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{path}: unknown section [{key}]; known: {', '.join(sorted(known))}")
    values = {
        name: _section(path, name, cls, raw.get(name, {}), environ)
        for name, cls in SECTIONS.items()
    }
    _check_team(path, values["server"], values["team"])
    _check_notify(path, values["notify"])
    project_tables = _tables(path, "projects", raw.get("projects", {}))
    return Config(
        home=home,
        database_url=ledger_url(str(home), str(path), raw, environ),
        providers=_providers(path, raw.get("providers", {})),
        agent_options=_options(path, "agents", raw.get("agents", {})),
        project_options={
            name: _options(path, f"projects.{name}.agents", table.get("agents", {}))
            for name, table in project_tables.items()
        },
        project_workspaces={
            name: _project_workspace(path, name, table) for name, table in project_tables.items()
        },
        **values,
    )


def _check_team(path: Path, server: ServerSettings, team: TeamSettings) -> None:
    if bool(server.tls_cert) != bool(server.tls_key):
        raise ConfigError(f"{path}: server.tls_cert and server.tls_key go together; set both")
    if team.heartbeat_s <= 0 or team.heartbeat_s * 2 > team.host_timeout_s:
        raise ConfigError(
            f"{path}: team.heartbeat_s={team.heartbeat_s:g} must be above 0 and at most half "
            f"of team.host_timeout_s={team.host_timeout_s:g}, or live hosts look dead"
        )


def _check_notify(path: Path, notify: NotifySettings) -> None:
    if notify.webhook:
        from urllib.parse import urlsplit  # loaded only to check a webhook (CLI start-up)

        url = urlsplit(notify.webhook)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(
                f"{path}: notify.webhook must be an http:// or https:// URL, not {notify.webhook!r}"
            )
    if notify.max_attempts < 1:
        raise ConfigError(f"{path}: notify.max_attempts must be at least 1")


def _section(path: Path, name: str, cls: type, table: Any, environ: Mapping[str, str]) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    declared = {f.name: f for f in fields(cls)}
    for key in table:
        if key not in declared:
            raise ConfigError(
                f"{path}: unknown key {name}.{key}; known: {', '.join(sorted(declared))}"
            )
    values: dict[str, Any] = {}
    for key, spec in declared.items():
        env_name = f"TETHER_{name.upper()}_{key.upper()}"
        if env_name in environ:
            values[key] = _coerce(f"${env_name}", spec.default, environ[env_name])
        elif key in table:
            values[key] = _check_type(path, f"{name}.{key}", spec.default, table[key])
        choices = spec.metadata["choices"]
        if key in values and choices and values[key] not in choices:
            raise ConfigError(
                f"{path}: {name}.{key} must be one of {' / '.join(choices)}, not {values[key]!r}"
            )
    return replace(cls(), **values)


def _check_type(path: Path, key: str, default: Any, value: Any) -> Any:
    kind = type(default)
    if kind is tuple:
        return _argv(path, key, value)
    ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise ConfigError(f"{path}: {key} must be a {kind.__name__}, not {value!r}")
    if kind in (int, float) and value < 0:
        raise ConfigError(f"{path}: {key} must not be negative, got {value}")
    return value


def _coerce(source: str, default: Any, text: str) -> Any:
    if isinstance(default, tuple):
        try:
            words = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{source}: expected a JSON list of strings, got {text!r}") from exc
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ConfigError(f"{source}: expected a JSON list of strings, got {text!r}")
        return tuple(words)
    if isinstance(default, bool):
        flag = _FLAGS.get(text.strip().lower())
        if flag is None:
            raise ConfigError(f"{source}: expected true or false, got {text!r}")
        return flag
    try:
        return type(default)(text)
    except ValueError as exc:
        raise ConfigError(f"{source}: expected a {type(default).__name__}, got {text!r}") from exc


_FLAGS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


def _tables(path: Path, key: str, value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ConfigError(f"{path}: [{key}] must hold one table per name, e.g. [{key}.NAME]")
    for name in value:
        try:
            validate_name(name, f"{key} name")
        except InvalidId as exc:
            raise ConfigError(f"{path}: [{key}.{name}]: {exc}") from exc
    return value


def _argv(path: Path, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: {key} must be a non-empty list of strings (argv, no shell)")
    return tuple(value)


def _providers(path: Path, raw: Any) -> dict[str, DeclaredProvider]:
    declared: dict[str, DeclaredProvider] = {}
    for name, table in _tables(path, "providers", raw).items():
        unknown = set(table) - {"new", "resume", "stream"}
        if unknown:
            raise ConfigError(f"{path}: unknown key providers.{name}.{sorted(unknown)[0]}")
        stream = string_setting(path, f"providers.{name}.stream", table.get("stream", "text"))
        if stream not in STREAM_FORMATS:
            formats = ", ".join(STREAM_FORMATS)
            raise ConfigError(f"{path}: providers.{name}.stream={stream!r} is not one of {formats}")
        if "new" not in table:
            raise ConfigError(f"{path}: providers.{name}.new is missing (the argv of a new turn)")
        new = _argv(path, f"providers.{name}.new", table["new"])
        resume = (
            _argv(path, f"providers.{name}.resume", table["resume"]) if "resume" in table else None
        )
        declared[name] = DeclaredProvider(name, new, resume, stream)
    return declared


def _options(path: Path, key: str, raw: Any) -> dict[str, dict[str, object]]:
    tables = _tables(path, key, raw)
    for agent, options in tables.items():
        for option, value in options.items():
            if not isinstance(value, str | bool | int | list):
                raise ConfigError(
                    f"{path}: {key}.{agent}.{option} has an unsupported value {value!r}"
                )
    return tables


_PROJECT_KEYS = ("agents", "copy", "setup", "worktree")


def _project_workspace(path: Path, name: str, table: dict[str, Any]) -> ProjectWorkspace:
    for key in table:
        if key not in _PROJECT_KEYS:
            raise ConfigError(
                f"{path}: unknown key projects.{name}.{key}; known: {', '.join(_PROJECT_KEYS)}"
            )
    worktree = table.get("worktree", False)
    if not isinstance(worktree, bool):
        raise ConfigError(f"{path}: projects.{name}.worktree must be true or false")
    setup = table.get("setup", [])
    if not isinstance(setup, list):
        raise ConfigError(f"{path}: projects.{name}.setup must be a list of argv lists")
    commands = tuple(
        _argv(path, f"projects.{name}.setup[{i}]", command) for i, command in enumerate(setup)
    )
    copy = table.get("copy", [])
    if not isinstance(copy, list) or not all(isinstance(c, str) for c in copy):
        raise ConfigError(f"{path}: projects.{name}.copy must be a list of relative paths")
    for entry in copy:
        parts = Path(entry).parts
        if not entry or Path(entry).is_absolute() or ".." in parts:
            raise ConfigError(
                f"{path}: projects.{name}.copy entry {entry!r} must be a path inside the "
                "project (relative, no '..')"
            )
    return ProjectWorkspace(worktree, commands, tuple(copy))
