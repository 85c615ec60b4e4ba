"""The history commands through the CLI runner, on a generated Claude Code tree."""

import functools
import json
import random
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.unit.history.test_pricing import ACME

from tether.cli.group import cli
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


def _unpriced_session(claude: Path, model: str) -> int:
    """A transcript of one response by ``model``; returns its tokens."""
    usage = {"input_tokens": 1000, "output_tokens": 500, "cache_read_input_tokens": 2000}
    record = {
        "type": "assistant",
        "timestamp": "2026-01-03T10:00:00.000Z",
        "sessionId": "acme-session",
        "requestId": "req_acme",
        "uuid": "u-acme",
        "cwd": "/w",
        "message": {"id": "msg_acme", "model": model, "usage": usage, "content": []},
    }
    path = claude / "projects" / "-w" / "acme-session.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record) + "\n")
    return sum(usage.values())


@pytest.fixture
def price_server(tmp_path: Path) -> Iterator[str]:
    """genai-prices-format data (tests/unit/history/test_pricing.ACME) over loopback HTTP."""
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "data.json").write_text(json.dumps(ACME))
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_unpriced_tokens_are_shown_until_prices_know_the_model(
    tree: Expected, tmp_path: Path, price_server: str
) -> None:
    tokens = _unpriced_session(tmp_path / "claude", "acme-1")
    assert run("index")[0] == 0

    code, out, _ = run("usage", "model", "--json")
    models = {row["key"]: row for row in json.loads(out)}
    assert models["acme-1"]["cost"] is None and models["acme-1"]["unpriced_tokens"] == tokens
    priced = [row for key, row in models.items() if key != "acme-1"]
    assert priced and all(r["cost"] > 0 and r["unpriced_tokens"] == 0 for r in priced)

    code, out, _ = run("usage", "daily")
    assert code == 0 and "unpriced" in out and "acme-1 (3,500 tokens)" in " ".join(out.split())
    code, out, _ = run("doctor", "--json")
    check = next(c for c in json.loads(out) if c["check"] == "prices")
    assert not check["ok"] and "acme-1" in check["detail"]

    code, out, err = run("prices", "update", "--url", f"{price_server}/missing.json")
    assert code == 1 and "cannot fetch prices" in err and "Traceback" not in err
    code, out, err = run("prices", "update", "--url", f"{price_server}/data.json")
    assert code == 0, err
    assert "2 models priced" in out and "still unpriced: claude-" in out
    code, out, _ = run("usage", "model", "--json")
    acme = next(row for row in json.loads(out) if row["key"] == "acme-1")
    assert acme["cost"] == pytest.approx((1000 * 2 + 2000 * 0.5 + 500 * 8) / 1e6)
    assert acme["unpriced_tokens"] == 0


def test_prices_update_rejects_a_bad_file(tree: Expected, tmp_path: Path) -> None:
    bad = tmp_path / "prices.json"
    for text in ("{not json", json.dumps({"gpt-5": {"input_cost_per_token": 1e-6}})):
        bad.write_text(text)
        code, _, err = run("prices", "update", str(bad))
        assert code == 2 and "prices.json" in err and "Traceback" not in err
    assert run("index")[0] == 0
    code, out, _ = run("usage", "--json")
    assert all(row["cost"] > 0 for row in json.loads(out))  # the bundled prices still apply
