import os
from pathlib import Path

import pytest

from tether.config import load
from tether.errors import ConfigError
from tether.home import database_url


def write(home: Path, text: str) -> Path:
    path = home / "config.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file(home: Path) -> None:
    config = load()
    assert config.home == home
    assert config.engine.max_parallel == 8
    assert config.engine.start_timeout_s == 90
    assert config.server.port == 7700
    assert config.database_url == f"sqlite:///{home / 'tether.db'}"


def test_values_and_env_overrides(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(home, '[engine]\nmax_parallel = 3\nstart_timeout_s = 5\n[defaults]\nagent = "claude"\n')
    monkeypatch.setenv("TETHER_SERVER_PORT", "7801")
    config = load()
    assert config.engine.max_parallel == 3
    assert config.engine.start_timeout_s == 5.0
    assert config.defaults.agent == "claude"
    assert config.server.port == 7801


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[engine\nmax_parallel = 3", "not valid TOML"),
        ("[bogus]\nx = 1", "unknown section [bogus]"),
        ("[engine]\nmax_paralel = 3", "unknown key engine.max_paralel"),
        ('[engine]\nmax_parallel = "eight"', "engine.max_parallel must be a int"),
        ("[engine]\nmax_parallel = true", "engine.max_parallel must be a int"),
        ("[engine]\nstart_timeout_s = -1", "engine.start_timeout_s must not be negative"),
        ("[server]\nport = 1.5", "server.port must be a int"),
        ("engine = 3", "[engine] must be a table"),
        ("[database]\nurl = 5", "database.url must be a string"),
        ("database = 1", "[database] must be a table"),
        ('[providers.x]\nnew = "x {prompt}"', "providers.x.new must be a non-empty list"),
        ('[providers.x]\nnew = ["x"]\nstream = "xml"', "providers.x.stream"),
        ('[providers.x]\nresume = ["x"]', "providers.x.new is missing"),
        ('[providers."../x"]\nnew = ["x"]', "providers"),
        ("[agents.claude]\nallowed_tools = {a = 1}", "agents.claude.allowed_tools"),
    ],
)
def test_invalid_config_names_file_and_key(home: Path, text: str, needle: str) -> None:
    path = write(home, text)
    with pytest.raises(ConfigError) as info:
        load()
    message = str(info.value)
    assert str(path) in message
    assert needle in message


def test_invalid_env_override(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_ENGINE_MAX_PARALLEL", "lots")
    with pytest.raises(ConfigError, match="TETHER_ENGINE_MAX_PARALLEL"):
        load()


def test_declared_provider_and_project_options(home: Path) -> None:
    write(
        home,
        """
[providers.mytool]
new = ["mytool", "--json", "{prompt}"]
resume = ["mytool", "--resume", "{native_id}", "{prompt}"]
stream = "codex"

[agents.claude]
permission_mode = "acceptEdits"

[projects.web.agents.claude]
permission_mode = "plan"
""",
    )
    config = load()
    provider = config.providers["mytool"]
    assert provider.new == ("mytool", "--json", "{prompt}")
    assert provider.stream == "codex"
    assert config.options_for("claude", None) == {"permission_mode": "acceptEdits"}
    assert config.options_for("claude", "web") == {"permission_mode": "plan"}


def test_every_setting_is_documented_in_the_readme() -> None:
    from dataclasses import fields
    from pathlib import Path

    from tether.config import SECTIONS

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    missing = [
        f"{section}.{f.name}"
        for section, cls in SECTIONS.items()
        for f in fields(cls)
        if f.name not in readme
    ]
    assert missing == [], f"settings missing from README.md: {missing}"


def test_stream_formats_and_parsers_agree() -> None:
    from tether.agents.registry import STREAM_PARSERS
    from tether.config import STREAM_FORMATS

    assert set(STREAM_FORMATS) == set(STREAM_PARSERS)


def test_project_workspace_settings(home: Path) -> None:
    (home / "config.toml").write_text(
        """
[projects.web]
worktree = true
setup = [["npm", "ci"], ["make", "deps"]]
copy = [".env", "config/local.toml"]

[projects.web.agents.codex]
sandbox = "workspace-write"
"""
    )
    config = load()
    web = config.workspace_for("web")
    assert web.worktree is True
    assert web.setup == (("npm", "ci"), ("make", "deps"))
    assert web.copy == (".env", "config/local.toml")
    assert config.workspace_for("other").worktree is False
    assert config.options_for("codex", "web") == {"sandbox": "workspace-write"}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('setup = "npm ci"', "list of argv lists"),
        ('setup = [["npm ci", 3]]', "non-empty list of strings"),
        ("setup = [[]]", "non-empty list of strings"),
        ('copy = ["../secrets"]', "inside the project"),
        ('copy = ["/etc/passwd"]', "inside the project"),
        ('worktree = "yes"', "true or false"),
        ("worktrees = true", "unknown key projects.web.worktrees"),
    ],
)
def test_invalid_project_workspace_settings(home: Path, table: str, message: str) -> None:
    (home / "config.toml").write_text(f"[projects.web]\n{table}\n")
    with pytest.raises(ConfigError, match=message):
        load()


def test_notify_settings_webhook_and_argv(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(
        home,
        '[notify]\nwebhook = "https://hooks.example/t"\n'
        'command = ["notify-send", "{headline}", "{body}"]\n',
    )
    config = load()
    assert config.notify.webhook == "https://hooks.example/t"
    assert config.notify.command == ("notify-send", "{headline}", "{body}")
    monkeypatch.setenv("TETHER_NOTIFY_COMMAND", '["logger", "-t", "tether", "{headline}"]')
    assert load().notify.command == ("logger", "-t", "tether", "{headline}")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[notify]\nwebhook = "file:///etc/passwd"', "notify.webhook must be an http"),
        ('[notify]\ncommand = "notify-send hi"', "notify.command must be a non-empty list"),
        ("[notify]\nmax_attempts = 0", "notify.max_attempts must be at least 1"),
    ],
)
def test_bad_notify_settings_are_named(home: Path, text: str, needle: str) -> None:
    write(home, text)
    with pytest.raises(ConfigError, match=needle):
        load()


def test_a_notify_command_from_the_environment_must_be_a_json_list(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHER_NOTIFY_COMMAND", "notify-send hi")
    with pytest.raises(ConfigError, match="expected a JSON list of strings"):
        load()


def test_the_ledger_url_alone_is_read_as_load_reads_it(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("TETHER_") and n != "TETHER_HOME"]:
        monkeypatch.delenv(name)
    assert database_url() == load().database_url == f"sqlite:///{home / 'tether.db'}"
    write(home, '[database]\nurl = "sqlite:////elsewhere/file.db"\n')
    assert database_url() == load().database_url == "sqlite:////elsewhere/file.db"
    monkeypatch.setenv("TETHER_DATABASE_URL", "sqlite:////elsewhere/t.db")
    assert database_url() == load().database_url == "sqlite:////elsewhere/t.db"
    monkeypatch.setenv("TETHER_SERVER_PORT", "many")  # a setting the URL does not depend on
    assert database_url() == "sqlite:////elsewhere/t.db"
    with pytest.raises(ConfigError, match="TETHER_SERVER_PORT"):
        load()
    monkeypatch.delenv("TETHER_SERVER_PORT")
    write(home, "[database\n")  # the URL is set: the file cannot change it
    assert database_url() == "sqlite:////elsewhere/t.db"
    monkeypatch.delenv("TETHER_DATABASE_URL")
    write(home, "[server\nport = 1\n")  # not TOML, and no word of the ledger
    assert database_url() == f"sqlite:///{home / 'tether.db'}"
    with pytest.raises(ConfigError, match="not valid TOML"):
        load()
    write(home, '["d\\u0061tabase"]\nurl = "sqlite:////escaped/t.db"\n')
    assert database_url() == load().database_url == "sqlite:////escaped/t.db"
    for text in ("[database\n", "[database]\nurl = 5\n", "database = 1\n"):
        write(home, text)
        with pytest.raises(ConfigError) as read:
            database_url()
        with pytest.raises(ConfigError) as loaded:
            load()
        assert str(read.value) == str(loaded.value), text
    (home / "config.toml").unlink()
    (home / "config.toml").mkdir()
    for read_settings in (database_url, load):
        with pytest.raises(ConfigError, match="cannot read"):
            read_settings()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TETHER_HOME", "relative")
    assert load().home == tmp_path / "relative"
    assert database_url() == load().database_url == f"sqlite:///{tmp_path / 'relative/tether.db'}"
