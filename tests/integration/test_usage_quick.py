"""``tether usage`` without click prints, fails and exits exactly as the click group does.

Each command line runs twice as a whole process: through the entry point
(``tether.cli.main``, which answers plain forms without click) and through
the click group alone; stdout, stderr and the exit code must be the same.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support import imported, usage_entry

from tether.cli import quick
from tether.config import Config
from tether.ledger import history
from tether.ledger.store import Ledger

GROUP = "from tether.cli.group import cli; cli(prog_name='tether')"
# Modules `tether usage --json` must not load: each costs its whole process milliseconds.
HEAVY = {
    "click",
    "sqlalchemy",
    "alembic",
    "tether.config",
    "tomllib",
    "typing",
    "re",
    "json",
    "pathlib",
}
LINES = [
    ["usage"],
    ["usage", "--json"],
    ["usage", "model"],
    ["usage", "agent", "--json", "--since", "2026-01-02"],
    ["usage", "--since=2026-01-02", "daily"],
    ["usage", "session", "--json"],
    ["usage", "project"],
    ["usage", "weekly"],
    ["usage", "--since", "yesterday"],
    ["usage", "--since"],
    ["usage", "daily", "model"],
    ["usage", "--json", "--json"],
    ["usage", "--help"],
    ["usage", "-h"],
    ["usage", "--", "daily"],
    ["--version"],
]


def _run(prefix: list[str], args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, *prefix, *args], env=env, capture_output=True, text=True, timeout=120
    )
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def env(config: Config, ledger: Ledger, home: Path) -> dict[str, str]:
    with ledger.db.write() as conn:
        history.upsert_entries(
            conn,
            [
                usage_entry("a", "gpt-5.1", "2026-01-01", 0.5),
                usage_entry("b", "mock", "2026-01-02", None),
                usage_entry("c", "gpt-5.1", "2026-01-02", 0.25),
            ],
        )
    return {
        **os.environ,
        "TETHER_HOME": str(home),
        "TETHER_DATABASE_URL": config.database_url,
        "COLUMNS": "120",
    }


def test_every_line_gives_what_the_group_gives(env: dict[str, str]) -> None:
    for args in LINES:
        entry = _run(["-m", "tether.cli.main"], args, env)
        group = _run(["-c", GROUP], args, env)
        assert entry == group, args
    code, out, _ = _run(["-m", "tether.cli.main"], ["usage", "--json"], env)
    assert code == 0 and '"key": "2026-01-02"' in out
    code, out, _ = _run(["-m", "tether.cli.main"], ["usage"], env)
    assert code == 0 and "0.2500*" in out and "mock (135 tokens)" in out


def test_the_settings_are_read_for_the_ledger_url_alone(
    env: dict[str, str], home: Path, ledger: Ledger
) -> None:
    """A config.toml that may name the ledger (without TETHER_DATABASE_URL) is read: if it
    is not TOML, or the URL is not a string, ``tether usage`` fails as every command. A bad
    setting the report does not use is left to the commands that use it, unless the full
    ledger is opened (PostgreSQL), which loads every setting."""
    from_file = {k: v for k, v in env.items() if k != "TETHER_DATABASE_URL"}
    for text, needle in (
        ("[database\n", "not valid TOML"),
        ("[database]\nurl = 5\n", "database.url must be a string"),
    ):
        (home / "config.toml").write_text(text)
        for args in (["usage"], ["usage", "--json"]):
            entry = _run(["-m", "tether.cli.main"], args, from_file)
            assert entry == _run(["-c", GROUP], args, from_file), args
            assert entry[0] == 2 and f"{home / 'config.toml'}: " in entry[2] and needle in entry[2]
    for text, needle in (("[server]\nport = 'many'\n", "server.port"), ("[server\n", "TOML")):
        (home / "config.toml").write_text(text)
        entry = _run(["-m", "tether.cli.main"], ["usage", "--json"], env)
        assert entry == _run(["-c", GROUP], ["usage", "--json"], env)
        if ledger.db.is_sqlite:
            assert entry[0] == 0 and '"key": "2026-01-02"' in entry[1]
        else:
            assert entry[0] == 2 and needle in entry[2]
        index = _run(["-m", "tether.cli.main"], ["index", "--json"], env)
        assert index[0] == 2 and needle in index[2]


def test_plain_lines_load_no_click(env: dict[str, str], ledger: Ledger, home: Path) -> None:
    """Nor, for JSON, the settings classes (with a TETHER_ setting in the environment, as
    bench/history.py sets one, and a config.toml without the ledger's URL), tomllib, typing,
    re, json or pathlib: each costs the whole process milliseconds. The table form loads
    no Rich either (about 100 ms)."""
    if not ledger.db.is_sqlite:
        return  # PostgreSQL: the group opens the full ledger
    env = {k: v for k, v in env.items() if k != "TETHER_DATABASE_URL"}  # the default: home's
    env["TETHER_HISTORY_IMPORT_TRANSCRIPTS"] = "1"
    (home / "config.toml").write_text("[engine]\nmax_parallel = 4\n")
    for args in (["usage", "--json"], ["usage", "model", "--since", "2026-01-01", "--json"]):
        _, loaded = imported(args, env)
        assert "tether.ledger.light" in loaded and loaded.isdisjoint(HEAVY), (args, loaded & HEAVY)
    _, loaded = imported(["usage", "model"], env)
    assert "tether.ledger.light" in loaded and "rich" not in loaded and "click" not in loaded


def test_parse_takes_only_the_plain_forms() -> None:
    assert quick.parse(["usage"]) == ("daily", None, False)
    assert quick.parse(["usage", "--json", "model", "--since=2026-01-01"]) == (
        "model",
        "2026-01-01",
        True,
    )
    for args in (
        [],
        ["ls"],
        ["-v", "usage"],
        ["usage", "-h"],
        ["usage", "--since"],
        ["usage", "model", "agent"],
        ["usage", "--since", "a", "--since", "b"],
        ["usage", "--jso"],
    ):
        assert quick.parse(args) is None, args


def test_other_commands_do_not_load_the_quick_path(home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tether.cli.main", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "tether" in done.stdout, done.stderr[-2000:]
    loaded = {line.split("|")[-1].strip() for line in done.stderr.splitlines()}
    assert "tether.cli.group" in loaded
    assert loaded.isdisjoint({"tether.cli.quick", "tether.ledger.usage"})
