"""The history commands through the CLI runner, on a generated Claude Code tree."""

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from tether.cli.main import cli
from tether.history.synthetic import Expected, claude_session, write_claude

KINDS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def tree(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Expected:
    claude = tmp_path / "claude"
    monkeypatch.setenv("TETHER_HISTORY_CLAUDE_CONFIG_DIR", str(claude))
    for name in ("CODEX_HOME", "GEMINI_CLI_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(f"TETHER_HISTORY_{name}", str(tmp_path / "none" / name))
    expected = Expected()
    rng = random.Random(11)
    for start in (1767225600.0, 1767312000.0):
        write_claude(claude, claude_session(rng, expected, start, 4))
    return expected


def test_index_usage_search_adopt(tree: Expected) -> None:
    code, out, _ = run("index", "--json")
    assert code == 0 and json.loads(out)["files_read"] == 2

    code, out, _ = run("usage", "daily", "--json")
    days = {row["key"]: Counter({k: row[k] for k in KINDS}) for row in json.loads(out)}
    assert days == {day: Counter({k: c[k] for k in KINDS}) for day, c in tree.days.items()}
    assert all(row["cost"] > 0 for row in json.loads(out))

    code, out, _ = run("usage", "session", "--json")
    external = [row["key"] for row in json.loads(out)]
    assert len(external) == 2

    code, out, _ = run("ls", "--json")
    listed = {s["id"]: s for s in json.loads(out)["items"]}
    assert set(external) <= set(listed)
    assert {listed[s]["origin"] for s in external} == {"external"}

    word = listed[external[0]]["title"].split()[0]
    code, out, _ = run("search", word, "--json")
    assert code == 0 and json.loads(out), f"no hit for {word!r}"

    code, out, _ = run("adopt", external[0], "--json")
    adopted = json.loads(out)
    assert code == 0 and adopted["origin"] == "tether" and adopted["native_id"]
    code, out, _ = run("index", "--json")
    assert json.loads(out)["files_read"] == 0  # nothing new: a warm pass reads nothing


def test_usage_rejects_a_bad_day(tree: Expected) -> None:
    code, _, err = run("usage", "daily", "--since", "yesterday")
    assert code == 2 and "not a day like" in err


def test_prices_update_rejects_a_bad_file(tree: Expected, tmp_path: Path) -> None:
    bad = tmp_path / "prices.json"
    bad.write_text("{not json")
    code, _, err = run("prices", "update", str(bad))
    assert code != 0 and "prices.json" in err and "Traceback" not in err
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps(
            {
                "claude-sonnet-4-20250514": {
                    "input_cost_per_token": 1e-6,
                    "output_cost_per_token": 2e-6,
                }
            }
        )
    )
    run("index")
    code, out, err = run("prices", "update", str(good))
    assert code == 0, err
    assert "models priced" in out
