"""Native logs recorded from the real CLIs (tests/data/recorded): exact usage.

The recording's model server answers every request with input 100 (20 of
them cached) and output 10; the ``main`` and ``tool`` sessions made two
model requests each.
"""

import hashlib
import re
import shutil
from pathlib import Path

import pytest

from tether.config import Config
from tether.domain.records import Origin
from tether.errors import Conflict
from tether.history.adopt import adopt
from tether.history.indexer import Indexer
from tether.ledger import history as ledger_history
from tether.ledger import projects, sessions
from tether.ledger.store import Ledger

RECORDED = Path(__file__).parents[1] / "data" / "recorded"
AGENTS = ("claude", "codex", "gemini")


@pytest.fixture
def recorded_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    for agent in AGENTS:
        for label in ("main", "tool", "failed"):
            source = RECORDED / agent / "native" / label
            if source.is_dir():
                shutil.copytree(source, home, dirs_exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(home / ".claude"))
    monkeypatch.setenv("CODEX_HOME", str(home / ".codex"))
    monkeypatch.setenv("GEMINI_CLI_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    return home


def test_recorded_sessions_have_exact_usage_and_titles(
    config: Config, ledger: Ledger, recorded_home: Path
) -> None:
    report = Indexer(config, ledger).run_once()
    assert report.bad_lines == 0 and report.errors == []
    with ledger.db.read() as conn:
        rows = ledger_history.usage_report(conn, "session")
        found = {r["key"]: sessions.get(conn, r["key"]) for r in rows}
    by_agent: dict[str, list[dict]] = {}
    for row in rows:
        by_agent.setdefault(found[row["key"]].agent, []).append(row)
    for agent in AGENTS:
        usage = sorted(
            (r["input_tokens"], r["cached_input_tokens"], r["output_tokens"])
            for r in by_agent[agent]
        )
        assert usage[-2:] == [(160, 40, 20), (160, 40, 20)], agent
    titles = {s.title for s in found.values()}
    assert "hello from the recorder" in titles
    assert all(s.origin is Origin.EXTERNAL for s in found.values())
    assert report.events > 0


GEMINI_WORK = "/tmp/tether-record/gemini/work"  # where the recording ran Gemini CLI 0.61.0
MAIN_GEMINI = "49f92d57-f1ae-4d51-a98d-1781a5e519f6"
TOOL_GEMINI = "dc941808-f88f-4ed6-92fe-52bff9c21930"


def _gemini_workspaces(config: Config, ledger: Ledger) -> set[str]:
    Indexer(config, ledger).run_once()
    with ledger.db.read() as conn:
        found = [
            sessions.find_by_native_id(conn, "gemini", native)
            for native in (MAIN_GEMINI, TOOL_GEMINI)
        ]
    return {s.workspace for s in found if s is not None}


def test_a_gemini_session_runs_where_gemini_recorded_its_directory(
    config: Config, ledger: Ledger, recorded_home: Path
) -> None:
    """The logs hold the directory's hash; `tmp/work/.project_root` holds the path."""
    (recorded_home / ".gemini" / "projects.json").unlink()
    assert _gemini_workspaces(config, ledger) == {GEMINI_WORK}


def test_projects_json_names_the_directory_when_the_marker_is_gone(
    config: Config, ledger: Ledger, recorded_home: Path
) -> None:
    (recorded_home / ".gemini" / "tmp" / "work" / ".project_root").unlink()
    assert _gemini_workspaces(config, ledger) == {GEMINI_WORK}


def test_a_path_without_the_sessions_hash_is_not_taken(
    config: Config, ledger: Ledger, recorded_home: Path
) -> None:
    """Gemini's records of another directory under the same slug are not this session's."""
    (recorded_home / ".gemini" / "projects.json").unlink()
    marker = recorded_home / ".gemini" / "tmp" / "work" / ".project_root"
    marker.write_text("/tmp/elsewhere/work\n")
    assert _gemini_workspaces(config, ledger) == {""}


def test_a_gemini_directory_known_by_hash_only_is_adopted_from_a_registered_project(
    config: Config, ledger: Ledger, recorded_home: Path
) -> None:
    """An older Gemini's layout, `tmp/<sha256 of the path>/`: refused with what to do until
    a registered project's path has that hash."""
    gemini_dir = recorded_home / ".gemini"
    (gemini_dir / "projects.json").unlink()
    (gemini_dir / "tmp" / "work" / ".project_root").unlink()
    hashed = hashlib.sha256(GEMINI_WORK.encode()).hexdigest()
    (gemini_dir / "tmp" / "work").rename(gemini_dir / "tmp" / hashed)
    assert _gemini_workspaces(config, ledger) == {""}
    with ledger.db.read() as conn:
        found = sessions.find_by_native_id(conn, "gemini", MAIN_GEMINI)
    assert found is not None
    with pytest.raises(Conflict, match=re.escape("`tether project add PATH`")):
        adopt(ledger, found.id)
    with ledger.db.write() as conn:
        projects.add(conn, Path(GEMINI_WORK + "-not"), name="near")
    with pytest.raises(Conflict, match="by hash only"):
        adopt(ledger, found.id)

    with ledger.db.write() as conn:
        projects.add(conn, Path(GEMINI_WORK), name="work")
    adopted = adopt(ledger, found.id)
    assert (adopted.id, adopted.workspace, adopted.origin) == (
        found.id,
        GEMINI_WORK,
        Origin.TETHER,
    )


def test_a_gemini_session_indexed_before_directories_were_read_is_adopted_where_it_ran(
    config: Config, ledger: Ledger, recorded_home: Path
) -> None:
    """A ledger written by an earlier tether holds no directory for it: adopt reads
    Gemini's record of it (`.project_root`, hash checked), with no project registered."""
    Indexer(config, ledger).run_once()
    with ledger.db.write() as conn:
        found = sessions.find_by_native_id(conn, "gemini", MAIN_GEMINI)
        assert found is not None
        sessions.set_workspace(conn, found.id, "")
    assert adopt(ledger, found.id).workspace == GEMINI_WORK
