"""A command answers at once: nothing heavy is imported for --help, and with a running
daemon ls / show / log / send / wait go through its API without loading SQLAlchemy."""

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support import TETHER, CliHome, cli_home, imported

HEAVY = ("sqlalchemy", "alembic", "uvicorn", "starlette", "jinja2", "httpx", "rich", "psycopg")


def test_version_and_help_import_nothing_heavy(tmp_path: Path) -> None:
    for args in (["--version"], ["--help"], ["spawn", "--help"], ["usage", "--help"]):
        _, names = imported(args)
        assert names.isdisjoint(HEAVY), (args, names & set(HEAVY))


@pytest.fixture
def home(tmp_path: Path) -> Iterator[CliHome]:
    h = cli_home(tmp_path)
    h.serve()
    yield h
    h.run("daemon", "stop")


def test_reads_and_writes_through_the_daemon_stay_light(home: CliHome) -> None:
    out, names = imported(["spawn", "--project", "work", "--json", "hello"], env=home.env)
    turn = json.loads(out)["turn"]["id"]
    assert "sqlalchemy" not in names
    out, names = imported(["wait", turn, "--timeout", "100", "--json"], env=home.env)
    assert json.loads(out)["state"] == "completed" and "sqlalchemy" not in names
    out, names = imported(["send", "work-1", "--json", "again"], env=home.env)
    assert json.loads(out)["turn"]["id"] == "work-1.2" and "sqlalchemy" not in names
    for args in (["ls", "--json"], ["show", "work-1", "--json"], ["log", "work-1", "--json"]):
        out, names = imported(args, env=home.env)
        assert json.loads(out)["items" if args[0] != "show" else "turns"], args
        assert names.isdisjoint(HEAVY), (args, names & set(HEAVY))
    out, _ = imported(["show", "work-1"], env=home.env)
    assert "work-1.1  completed" in out
    missing = subprocess.run(
        [*TETHER, "show", "work-9"], env=home.env, capture_output=True, text=True, timeout=120
    )
    assert missing.returncode == 2 and "no session work-9" in missing.stderr
