"""A command answers at once: nothing heavy is imported for --help, and with a running
daemon ls / show / log / send / wait go through its API without loading SQLAlchemy."""

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.acceptance.test_restart_retry import TETHER, Home
from tests.engine.conftest import write_config

HEAVY = ("sqlalchemy", "alembic", "uvicorn", "starlette", "jinja2", "httpx", "rich", "psycopg")


def _imported(*args: str, env: dict[str, str] | None = None) -> tuple[str, set[str]]:
    """stdout, and the top-level packages the command imported (python -X importtime)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tether.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = {
        line.split("|")[-1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    return done.stdout, names


def test_version_and_help_import_nothing_heavy(tmp_path: Path) -> None:
    for args in (["--version"], ["--help"], ["spawn", "--help"], ["usage", "--help"]):
        _, names = _imported(*args)
        assert names.isdisjoint(HEAVY), (args, names & set(HEAVY))


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    path, work = tmp_path / "home", tmp_path / "work"
    path.mkdir()
    work.mkdir()
    write_config(path)
    h = Home(path, work)
    assert h.run("project", "add", str(work), "--name", "work", "--agent", "fake").returncode == 0
    h.serve()
    h.wait_for_daemon()
    yield h
    h.run("daemon", "stop")


def test_reads_and_writes_through_the_daemon_stay_light(home: Home) -> None:
    out, names = _imported("spawn", "--project", "work", "--json", "hello", env=home.env)
    turn = json.loads(out)["turn"]["id"]
    assert "sqlalchemy" not in names
    out, names = _imported("wait", turn, "--timeout", "100", "--json", env=home.env)
    assert json.loads(out)["state"] == "completed" and "sqlalchemy" not in names
    out, names = _imported("send", "work-1", "--json", "again", env=home.env)
    assert json.loads(out)["turn"]["id"] == "work-1.2" and "sqlalchemy" not in names
    for args in (["ls", "--json"], ["show", "work-1", "--json"], ["log", "work-1", "--json"]):
        out, names = _imported(*args, env=home.env)
        assert json.loads(out)["items" if args[0] != "show" else "turns"], args
        assert names.isdisjoint(HEAVY), (args, names & set(HEAVY))
    out, _ = _imported("show", "work-1", env=home.env)
    assert "work-1.1  completed" in out
    missing = subprocess.run(
        [*TETHER, "show", "work-9"], env=home.env, capture_output=True, text=True, timeout=120
    )
    assert missing.returncode == 2 and "no session work-9" in missing.stderr
