"""The CLI through Click's runner, against a real SQLite ledger."""

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tether.cli.group import cli
from tether.config import load
from tether.ledger import sessions, turns
from tether.ledger.store import open_ledger


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_project_add_and_list(home: Path, tmp_path: Path) -> None:
    code, out, _ = run("project", "add", str(tmp_path), "--name", "web", "--agent", "claude")
    assert code == 0 and "web-1" in out
    code, out, _ = run("project", "ls", "--json")
    assert code == 0
    assert json.loads(out)[0] == {**json.loads(out)[0], "name": "web", "default_agent": "claude"}
    code, _, err = run("project", "add", str(tmp_path), "--name", "other")
    assert code == 1 and "exists already" in err
    code, _, err = run("project", "add", str(tmp_path / "nope"))
    assert code == 2 and "not a directory" in err
    code, _, err = run("project", "add", str(tmp_path), "--name", "x", "--agent", "nosuch")
    assert code == 1 and "unknown agent 'nosuch'" in err


def _seed(tmp_path: Path) -> None:
    ledger = open_ledger(load())
    with ledger.db.write() as conn:
        from tether.ledger import projects

        project = projects.add(conn, tmp_path, name="web")
        for agent in ("codex", "claude", "gemini"):
            session = sessions.create(conn, project, agent, str(tmp_path))
        turns.add(conn, session, "fix the bug", key="k")
    ledger.close()


def test_ls_and_show(home: Path, tmp_path: Path) -> None:
    _seed(tmp_path)
    code, out, _ = run("ls", "--json")
    assert code == 0
    listing = json.loads(out)
    assert [s["id"] for s in listing["items"]] == ["web-3", "web-2", "web-1"]
    code, out, _ = run("ls", "--json", "--agent", "claude")
    assert [s["id"] for s in json.loads(out)["items"]] == ["web-2"]
    code, out, _ = run("ls", "--json", "--state", "queued")
    assert [s["id"] for s in json.loads(out)["items"]] == ["web-3"]
    code, out, _ = run("ls", "--json", "--limit", "2")
    page = json.loads(out)
    code, out, _ = run("ls", "--json", "--before", page["next_cursor"])
    assert [s["id"] for s in json.loads(out)["items"]] == ["web-1"]
    code, out, _ = run("ls")
    assert code == 0 and "web-3" in out and "gemini" in out
    code, out, _ = run("show", "web-3", "--json")
    detail = json.loads(out)
    assert detail["agent"] == "gemini"
    assert detail["turns"][0]["id"] == "web-3.1"
    assert detail["turns"][0]["state"] == "queued"
    assert detail["turns"][0]["waiting_for"] == "dispatched"
    code, out, _ = run("show", "web-3")
    assert code == 0 and "web-3.1" in out and "queued" in out


@pytest.mark.parametrize("bad", ["../etc", "", "web-0", "a" * 100, "web-1/../../x"])
def test_hostile_ids_exit_2_without_traceback(home: Path, bad: str) -> None:
    code, out, err = run("show", bad)
    assert code == 2
    assert "Traceback" not in out + err
    assert "error:" in err


def test_unknown_id_exits_2(home: Path) -> None:
    code, _, err = run("show", "web-12")
    assert code == 2 and "no session web-12" in err


def test_invalid_config_is_reported_with_file_and_key(home: Path) -> None:
    (home / "config.toml").write_text("[engine]\nmax_parallel = 'many'\n")
    code, _, err = run("ls")
    assert code == 2
    assert "config.toml" in err and "engine.max_parallel" in err


def test_bad_state_filter_is_a_usage_error(home: Path) -> None:
    code, _, err = run("ls", "--state", "bogus")
    assert code == 2 and "bogus" in err


def test_doctor(home: Path) -> None:
    (home / "config.toml").write_text(
        f'[defaults]\nagent = "py"\n\n[providers.py]\nnew = ["{sys.executable}", "{{prompt}}"]\n'
    )
    code, out, _ = run("doctor", "--json")
    checks = {c["check"]: c for c in json.loads(out)}
    assert code == 0, out
    assert checks["ledger"]["ok"] and "migrated" in checks["ledger"]["detail"]
    assert checks["blob store"]["ok"]
    assert checks["agent py"] == {**checks["agent py"], "ok": True, "required": True}
    assert {"agent codex", "agent claude", "agent gemini", "agent opencode"} <= set(checks)
    # agents nobody uses may be missing: a warning, not a failure
    assert all(c["ok"] or not c["required"] for c in checks.values())


def test_doctor_fails_when_an_agent_in_use_cannot_run(home: Path, tmp_path: Path) -> None:
    (home / "config.toml").write_text(
        '[defaults]\nagent = "claude"\n\n[agents.codex]\ncommand = "/nonexistent/codex"\n'
        '\n[agents.claude]\ncommand = "/nonexistent/claude"\n'
    )
    code, out, _ = run("doctor", "--json")
    checks = {c["check"]: c for c in json.loads(out)}
    assert code == 1
    for agent in ("codex", "claude"):
        check = checks[f"agent {agent}"]
        assert not check["ok"] and check["required"] and "not found" in check["detail"]
    code, out, _ = run("doctor")
    assert code == 1 and "FAIL" in out


def test_doctor_fails_when_blob_store_is_unwritable(home: Path) -> None:
    (home / "blobs").write_text("not a directory")
    code, out, _ = run("doctor", "--json")
    checks = {c["check"]: c for c in json.loads(out)}
    assert code == 1 and not checks["blob store"]["ok"]
