"""The history indexer against real SQLite and PostgreSQL ledgers.

Generated trees carry their exact expected usage; hand-written files pin
the edge cases: streamed duplicates, forks, appends, truncation, bad data.
"""

import json
import random
from collections import Counter
from pathlib import Path

import pytest
import zstandard
from sqlalchemy import text

from tether.config import Config, load
from tether.domain.records import Origin
from tether.errors import Conflict
from tether.history.adopt import adopt
from tether.history.indexer import Indexer
from tether.history.synthetic import (
    CODEX_FORKS,
    Expected,
    claude_session,
    codex_session,
    iso,
    write_claude,
    write_codex,
    write_tree,
)
from tether.ledger import history as ledger_history
from tether.ledger import projects, sessions, turns
from tether.ledger.store import Ledger, history_host, open_ledger

KINDS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
T0 = 1767225600.0


@pytest.fixture
def roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    paths = {"claude": tmp_path / "claude", "codex": tmp_path / "codex"}
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(paths["claude"]))
    monkeypatch.setenv("CODEX_HOME", str(paths["codex"]))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return paths


def _report(ledger: Ledger, by: str) -> dict[str, Counter[str]]:
    with ledger.db.read() as conn:
        rows = ledger_history.usage_report(conn, by)
    return {r["key"]: Counter({k: r[k] for k in KINDS}) for r in rows}


def _by_native(ledger: Ledger) -> dict[tuple[str, str], Counter[str]]:
    out = {}
    with ledger.db.read() as conn:
        for key, usage in _report(ledger, "session").items():
            session = sessions.get(conn, key)
            out[(session.agent, str(session.native_id))] = usage
    return out


def _clean(expected: dict) -> dict:
    return {k: Counter({kind: v[kind] for kind in KINDS}) for k, v in expected.items()}


def _claude_line(**fields: object) -> str:
    return json.dumps(fields) + "\n"


def _assistant(
    session: str, msg: str, req: str, output: int, ts: float = T0, **extra: object
) -> str:
    usage = {
        "input_tokens": 10,
        "output_tokens": output,
        "cache_creation_input_tokens": 20,
        "cache_read_input_tokens": 30,
    }
    return _claude_line(
        type="assistant",
        timestamp=iso(ts),
        sessionId=session,
        requestId=req,
        uuid=f"{msg}-{output}",
        cwd="/w",
        message={"id": msg, "model": "claude-sonnet-4-20250514", "usage": usage, "content": []},
        **extra,
    )


def _claude_file(root: Path, native_id: str, lines: list[str]) -> Path:
    path = root / "projects" / "-w" / f"{native_id}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))
    return path


def test_generated_tree_totals_days_and_sessions_are_exact(
    config: Config, ledger: Ledger, roots: dict[str, Path]
) -> None:
    expected = write_tree(roots["claude"], roots["codex"], 3_000_000, seed=3, big_bytes=400_000)
    report = Indexer(config, ledger).run_once()
    assert report.bad_lines == 0 and report.errors == []
    assert _report(ledger, "daily") == _clean(expected.days)
    assert _report(ledger, "model") == _clean(expected.models)
    assert _by_native(ledger) == _clean(expected.sessions)


def test_a_generated_claude_fork_is_written_as_recorded_and_credited_once(
    config: Config, ledger: Ledger, roots: dict[str, Path]
) -> None:
    """As tests/data/recorded/forks/claude shows: the parent's file opens with a queued prompt
    before its first record, and the fork's with its own, stamped at the fork, before the
    copies; so the parent started first and keeps the copied usage whatever the ids' order
    (a fork whose id sorts first took it while the generator wrote no queue lines)."""
    seed = 0
    while True:  # a fork whose id sorts before its parent's
        rng = random.Random(seed)
        expected = Expected()
        parent = claude_session(rng, expected, T0, 3)
        fork = claude_session(rng, expected, parent.end + 60, 2, parent=parent)
        if fork.native_id < parent.native_id:
            break
        seed += 1
    first = [json.loads(session.lines[0]) for session in (parent, fork)]
    assert [line["type"] for line in first] == ["queue-operation", "queue-operation"]
    assert first[0]["timestamp"] < json.loads(fork.lines[2])["timestamp"] < first[1]["timestamp"]
    write_claude(roots["claude"], parent)
    write_claude(roots["claude"], fork)
    Indexer(config, ledger).run_once()
    assert _by_native(ledger) == _clean(expected.sessions)


def test_big_files_are_folded_range_by_range_with_writes_between(
    config: Config, ledger: Ledger, roots: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files cut into 64 KiB ranges and a write every few entries, so sessions (Codex state
    included) are folded and stored across many ranges and transactions."""
    from tether.history import indexer, scan

    monkeypatch.setattr(scan, "SPLIT_BYTES", 64 * 1024)
    monkeypatch.setattr(indexer, "FLUSH_ENTRIES", 7)
    expected = write_tree(roots["claude"], roots["codex"], 3_000_000, seed=3, big_bytes=400_000)
    report = Indexer(config, ledger).run_once()
    assert report.bad_lines == 0 and report.errors == []
    assert _report(ledger, "daily") == _clean(expected.days)
    assert _by_native(ledger) == _clean(expected.sessions)
    with ledger.db.read() as conn:
        files = ledger_history.load_files(conn, "" if ledger.db.is_sqlite else config.host_name)
    assert all(f.read_offset == f.size for f in files.values())
    assert Indexer(config, ledger).run_once().files_read == 0


def test_transcripts_come_from_the_usage_pass_across_ranges_and_writes(
    config: Config, ledger: Ledger, roots: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold pass reads each log once: its transcript items come from the usage pass's own
    lines, written with its usage batch after attribution, however the files are cut and
    the batches flushed; the events are exactly those a reading of each whole file gives."""
    from tether.history import indexer, scan, transcripts
    from tether.history.readers import READERS

    monkeypatch.setattr(scan, "TRANSCRIPT_SPLIT_BYTES", 64 * 1024)
    monkeypatch.setattr(indexer, "FLUSH_ENTRIES", 7)
    monkeypatch.setattr(transcripts, "EVENT_BATCH", 11)
    jobs: list[scan.Job] = []
    monkeypatch.setattr(indexer, "run_job", lambda job: jobs.append(job) or scan.run_job(job))
    write_tree(roots["claude"], roots["codex"], 1_000_000, seed=5, big_bytes=100_000)
    report = Indexer(config, ledger).run_once()
    assert report.errors == [] and report.events > 0
    assert all(job.usage for job in jobs)  # no second, transcript-only read
    assert len(jobs) > len({job.path for job in jobs})  # files were read in several ranges
    want = set()
    for path in {Path(job.path) for job in jobs}:
        agent = "claude" if roots["claude"] in path.parents else "codex"
        native = READERS[agent].native_id_for(path) or ""
        whole = scan.run_job(scan.Job(agent, str(path), native, 0, usage=False, transcript=True))
        want |= {(agent, native, item.key) for item in whole.transcript}
    with ledger.db.read() as conn:
        got = set(
            conn.execute(
                text(
                    "SELECT n.agent, n.native_id, e.dedup_key FROM events e "
                    "JOIN native_sessions n ON n.session_id = e.session_id"
                )
            ).all()
        )
        files = ledger_history.load_files(conn, "" if ledger.db.is_sqlite else config.host_name)
    assert got == want and report.events == len(want)
    assert all(f.events_offset == f.read_offset == f.size for f in files.values())
    assert Indexer(config, ledger).run_once().events == 0


def test_streamed_duplicates_keep_the_largest_usage(
    config: Config, ledger: Ledger, roots: dict[str, Path]
) -> None:
    lines = [_assistant("s1", "m1", "r1", out) for out in (1, 2, 700)]
    lines.append(_assistant("s1", "m2", "r2", 5))
    _claude_file(roots["claude"], "s1", lines)
    Indexer(config, ledger).run_once()
    total = _report(ledger, "agent")["claude"]
    assert total["output_tokens"] == 705
    assert total["input_tokens"] == 20


@pytest.mark.parametrize("fork_first", [True, False])
def test_claude_fork_is_credited_to_its_parent_whatever_the_order(
    config: Config, ledger: Ledger, roots: dict[str, Path], fork_first: bool
) -> None:
    parent, fork = "ffff-parent", "0000-fork"  # the fork's file sorts first
    shared = _assistant(parent, "m1", "r1", 100)
    copy = _assistant(fork, "m1", "r1", 100, forkedFrom={"sessionId": parent})
    own = _assistant(fork, "m2", "r2", 7, ts=T0 + 60)
    writes = [(fork, [copy, own]), (parent, [shared])]
    for native_id, lines in writes if fork_first else reversed(writes):
        _claude_file(roots["claude"], native_id, lines)
        Indexer(config, ledger).run_once()
    by_native = _by_native(ledger)
    assert by_native[("claude", parent)]["output_tokens"] == 100
    assert by_native[("claude", fork)]["output_tokens"] == 7


@pytest.mark.parametrize("how", CODEX_FORKS)
def test_codex_child_threads_count_only_their_own_usage(
    config: Config, ledger: Ledger, roots: dict[str, Path], how: str
) -> None:
    import random

    rng = random.Random(5)
    expected = Expected()
    parent = codex_session(rng, expected, T0, 4)
    fork = codex_session(rng, expected, T0 + 86400, 2, parent=parent, how=how)
    grandchild = codex_session(rng, expected, T0 + 2 * 86400, 2, parent=fork, how=how)
    write_codex(roots["codex"], grandchild)
    write_codex(roots["codex"], parent)
    write_codex(roots["codex"], fork, archived=True)
    Indexer(config, ledger).run_once()
    assert _by_native(ledger) == _clean(expected.sessions)
    assert _report(ledger, "daily") == _clean(expected.days)
    with ledger.db.read() as conn:
        row = conn.execute(
            text("SELECT parent_native_id FROM native_sessions WHERE native_id = :n"),
            {"n": fork.native_id},
        ).one()
    assert row[0] == parent.native_id


def test_rescan_reads_only_appended_bytes_and_waits_for_a_partial_line(
    config: Config, ledger: Ledger, roots: dict[str, Path]
) -> None:
    path = _claude_file(roots["claude"], "s1", [_assistant("s1", "m1", "r1", 10)])
    indexer = Indexer(config, ledger)
    first = indexer.run_once()
    assert first.bytes_read == path.stat().st_size
    assert indexer.run_once().bytes_read == 0
    appended = _assistant("s1", "m2", "r2", 20)
    with path.open("a") as handle:
        handle.write(appended[:-30])  # the agent is still writing this line
    partial = indexer.run_once()
    assert partial.entries == 0
    with path.open("a") as handle:
        handle.write(appended[-30:])
    second = indexer.run_once()
    assert second.entries == 1
    assert second.bytes_read == len(appended.encode())
    assert _report(ledger, "agent")["claude"]["output_tokens"] == 30


def test_truncated_or_replaced_file_is_read_again(
    config: Config, ledger: Ledger, roots: dict[str, Path]
) -> None:
    import random

    rng = random.Random(9)
    first = codex_session(rng, Expected(), T0, 3)
    path = write_codex(roots["codex"], first)
    indexer = Indexer(config, ledger)
    indexer.run_once()
    expected = Expected()
    again = codex_session(random.Random(10), expected, T0, 1)
    again.lines[0] = again.lines[0].replace(again.native_id, first.native_id)
    for index, line in enumerate(again.lines):
        again.lines[index] = line.replace(again.native_id, first.native_id)
    path.write_text("".join(again.lines))  # same inode, shorter: truncated and rewritten
    report = indexer.run_once()
    assert report.files_read == 1
    [(_, usage)] = _clean(expected.sessions).items()
    assert _report(ledger, "agent")["codex"] == usage


def test_bad_data_is_counted_never_fatal(
    config: Config, ledger: Ledger, roots: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHER_HISTORY_MAX_LINE_BYTES", "4096")
    config = load()
    huge = '{"type":"assistant","usage":"' + "x" * 100_000 + '"}\n'
    path = roots["claude"] / "projects" / "-w" / "s1.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(
        b'{"type":"assistant","message":{"usage":{"input_tokens":\n'  # invalid JSON
        b'{"type":"assistant","message":{"model":"\xff\xfe","usage":{}}}\n'  # invalid UTF-8
        + huge.encode()
        + _assistant("s1", "m1", "r1", 10).encode()
    )
    report = Indexer(config, ledger).run_once()
    assert (report.bad_lines, report.oversize_lines) == (2, 1)
    assert _report(ledger, "agent")["claude"]["output_tokens"] == 10
    with ledger.db.read() as conn:
        problems = ledger_history.problems(conn, history_host(config, ledger))
    assert (problems["bad_lines"], problems["oversize_lines"]) == (2, 1)


def test_compressed_rollouts_are_read(
    config: Config, ledger: Ledger, roots: dict[str, Path]
) -> None:
    import random

    expected = Expected()
    session = codex_session(random.Random(2), expected, T0, 3)
    plain = write_codex(roots["codex"], session, archived=True)
    packed = plain.with_name(plain.name + ".zst")
    packed.write_bytes(zstandard.ZstdCompressor().compress(plain.read_bytes()))
    plain.unlink()
    Indexer(config, ledger).run_once()
    assert _by_native(ledger) == _clean(expected.sessions)


def test_external_sessions_projects_and_adopt(
    config: Config, ledger: Ledger, roots: dict[str, Path], tmp_path: Path
) -> None:
    registered = tmp_path / "app"
    with ledger.db.write() as conn:
        app = projects.add(conn, registered, name="app")
    here = _claude_line(
        type="user", timestamp=iso(T0), sessionId="s-app", uuid="u1", cwd=str(registered),
        message={"role": "user", "content": "please rename the flux capacitor"},
    )  # fmt: skip
    _claude_file(roots["claude"], "s-app", [here, _assistant("s-app", "m1", "r1", 5)])
    _claude_file(roots["claude"], "s-else", [_assistant("s-else", "m2", "r2", 6)])
    report = Indexer(config, ledger).run_once()
    assert report.sessions_created == 2
    with ledger.db.read() as conn:
        in_app = sessions.find_by_native_id(conn, "claude", "s-app")
        elsewhere = sessions.find_by_native_id(conn, "claude", "s-else")
    assert in_app is not None and elsewhere is not None
    assert (in_app.project, in_app.origin, in_app.workspace) == (
        "app",
        Origin.EXTERNAL,
        str(registered),
    )
    assert in_app.title == "please rename the flux capacitor"
    assert elsewhere.project == "external-claude"
    with ledger.db.read() as conn:
        hits = ledger_history.search(conn, "flux capacitor")
    assert [h["session_id"] for h in hits] == [in_app.id]
    found_on = None if ledger.db.is_sqlite else config.host_name  # SQLite: one implicit host
    assert in_app.host == elsewhere.host == found_on
    with ledger.db.write() as conn:
        projects.add(conn, tmp_path, name="other")
        turns.add(conn, in_app, "carry on")  # a message sent to it before adoption
    with pytest.raises(Conflict, match=f"adopt it where it is with `tether adopt {in_app.id}`"):
        adopt(ledger, in_app.id, project="other")
    assert adopt(ledger, in_app.id).id == in_app.id  # in place, its turn stays with it
    adopted = adopt(ledger, elsewhere.id, project=app.name)
    assert (adopted.project, adopted.origin, adopted.native_id) == ("app", Origin.TETHER, "s-else")
    assert adopted.host == found_on
    assert Indexer(config, ledger).run_once().sessions_created == 0
    usage = _report(ledger, "session")
    assert usage[adopted.id]["output_tokens"] == 6


def test_attribution_is_by_native_id_never_by_cwd(
    config: Config, ledger: Ledger, roots: dict[str, Path], tmp_path: Path
) -> None:
    with ledger.db.write() as conn:
        app = projects.add(conn, Path("/w"), name="w")
        mine = sessions.create(conn, app, "claude", "/w", native_id="s-mine")
        other_cwd_twin = sessions.create(conn, app, "claude", "/w")
    _claude_file(roots["claude"], "s-mine", [_assistant("s-mine", "m1", "r1", 5)])
    _claude_file(roots["claude"], "s-stranger", [_assistant("s-stranger", "m2", "r2", 6)])
    Indexer(config, ledger).run_once()
    usage = _report(ledger, "session")
    assert usage[mine.id]["output_tokens"] == 5
    assert other_cwd_twin.id not in usage
    with ledger.db.read() as conn:
        stranger = sessions.find_by_native_id(conn, "claude", "s-stranger")
    assert stranger is not None and stranger.origin is Origin.EXTERNAL
    assert usage[stranger.id]["output_tokens"] == 6


def test_transcripts_are_imported_once(
    config: Config, ledger: Ledger, roots: dict[str, Path]
) -> None:
    import random

    session = claude_session(random.Random(4), Expected(), T0, 3)
    path = write_claude(roots["claude"], session)
    indexer = Indexer(config, ledger)
    first = indexer.run_once()
    assert first.events > 0
    with path.open("a") as handle:
        handle.write(session.lines[0])  # a record seen already, appended again
    assert indexer.run_once().events == 0
    with ledger.db.read() as conn:
        count = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
    assert count == first.events


def test_new_ledger_has_no_history(config: Config) -> None:
    ledger = open_ledger(config)
    try:
        assert _report(ledger, "daily") == {}
    finally:
        ledger.close()


def test_background_indexer_picks_up_new_logs_and_stops(
    config: Config, ledger: Ledger, roots: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from tether.history.indexer import run_indexer

    monkeypatch.setenv("TETHER_HISTORY_WATCH_INTERVAL_S", "0.05")
    monkeypatch.setenv("TETHER_HISTORY_RESCAN_INTERVAL_S", "0.05")
    stop = threading.Event()
    worker = threading.Thread(target=run_indexer, args=(load(), ledger, stop))
    worker.start()
    try:
        _claude_file(roots["claude"], "s1", [_assistant("s1", "m1", "r1", 42)])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "claude" not in _report(ledger, "agent"):
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=5)
    assert not worker.is_alive()
    assert _report(ledger, "agent")["claude"]["output_tokens"] == 42


def test_attached_part_of_a_tether_session_is_imported_once(
    config: Config, ledger: Ledger, roots: dict[str, Path]
) -> None:
    from tether.domain.records import TurnKind
    from tether.domain.states import TurnState
    from tether.ledger import events, turns

    with ledger.db.write() as conn:
        app = projects.add(conn, Path("/w"), name="w")
        mine = sessions.create(conn, app, "claude", "/w", native_id="s-att")
        headless, _ = turns.add(conn, mine, "from tether")
        turns.transition(conn, headless.id, TurnState.CANCELLED, reason="test")
        attached, _ = turns.add(conn, mine, "(attached: claude)", kind=TurnKind.ATTACHED)
        turns.transition(conn, attached.id, TurnState.DISPATCHED)
        turns.transition(conn, attached.id, TurnState.RUNNING, spawned_at=T0 + 100)
        turns.transition(conn, attached.id, TurnState.COMPLETED, finished_at=T0 + 200)

    def user(text: str, ts: float, uid: str) -> str:
        return _claude_line(
            type="user",
            timestamp=iso(ts),
            sessionId="s-att",
            uuid=uid,
            cwd="/w",
            message={"role": "user", "content": text},
        )

    path = _claude_file(
        roots["claude"],
        "s-att",
        [
            user("sent through tether", T0 + 5, "u1"),
            user("typed in the agent's UI", T0 + 150, "u2"),
        ],
    )
    indexer = Indexer(config, ledger)
    indexer.run_once()
    with path.open("a") as handle:
        handle.write(user("after detaching", T0 + 300, "u3"))
    indexer.run_once()
    indexer.run_once()
    with ledger.db.read() as conn:
        stored = events.page(conn, mine.id).items
    assert [(e.preview, e.turn_id) for e in stored] == [("typed in the agent's UI", attached.id)]
    with ledger.db.read() as conn:
        assert sessions.find_by_native_id(conn, "claude", "s-att") == sessions.get(conn, mine.id)


def test_a_warm_pass_is_skipped_only_when_nothing_changed_or_is_pending(
    config: Config, ledger: Ledger, roots: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tether.history import unchanged
    from tether.history.roots import log_files
    from tether.history.roots import roots as found_roots
    from tether.ledger import threads

    write_tree(roots["claude"], roots["codex"], 400_000, seed=5)
    path = _claude_file(roots["claude"], "s-grow", [_assistant("s-grow", "m1", "r1", 5)])
    monkeypatch.setenv("TETHER_HISTORY_IMPORT_TRANSCRIPTS", "0")
    usage_only = load()
    assert unchanged.check(usage_only) is None  # nothing indexed yet
    Indexer(usage_only, ledger).run_once()
    if not ledger.db.is_sqlite:
        assert unchanged.check(usage_only) is None  # the full pass always runs on PostgreSQL
        return
    logs = list(log_files(found_roots(usage_only.history)))
    quiet = unchanged.check(usage_only)
    assert quiet is not None and (quiet.files, quiet.files_read) == (len(logs), 0)
    assert unchanged.check(config) is None  # with transcripts: none imported yet
    Indexer(config, ledger).run_once()
    assert unchanged.check(config) is not None

    with path.open("a") as handle:
        handle.write(_assistant("s-grow", "m2", "r2", 7))
    assert unchanged.check(config) is None  # a log grew
    Indexer(config, ledger).run_once()
    assert unchanged.check(config) is not None
    _claude_file(roots["claude"], "s-new", [_assistant("s-new", "m1", "r1", 3)])
    assert unchanged.check(config) is None  # a new log
    Indexer(config, ledger).run_once()
    assert unchanged.check(config) is not None

    with ledger.db.write() as conn:
        conn.execute(text("INSERT INTO native_sessions (agent, native_id) VALUES ('codex', 'n1')"))
    assert unchanged.check(config) is None  # a native session to attribute
    Indexer(config, ledger).run_once()
    assert unchanged.check(config) is not None

    with ledger.db.write() as conn:
        app = projects.add(conn, Path("/w"), name="w")
        threads.ensure_current(conn, sessions.create(conn, app, "claude", "/w", native_id="s-mine"))
    _claude_file(roots["claude"], "s-mine", [_assistant("s-mine", "m1", "r1", 4)])
    assert Indexer(config, ledger).run_once().threads_measured == 1
    assert unchanged.check(config) is not None
    with ledger.db.write() as conn:
        conn.execute(text("UPDATE threads SET log_offset = 0"))
    assert unchanged.check(config) is None  # a live thread whose log is not measured to its end
    assert Indexer(config, ledger).run_once().threads_measured == 1
    assert unchanged.check(config) is not None
