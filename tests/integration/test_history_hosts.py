"""Each host indexes its own machine's native logs, tagged with the host.

Two machines hold the same paths (OpenCode's store is always
``~/.local/share/opencode/opencode.db``). One directory stands for the home of
both machines here: it holds machine A's tree while A's indexer runs and
machine B's while B's runs, as each machine would see its own disk.
"""

import json
import os
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.integration.test_history_opencode import ROWS, _load, make_store
from tests.support import TETHER, daemon_env

from tether.config import load
from tether.domain.records import Origin
from tether.engine import accept
from tether.errors import Conflict
from tether.history.adopt import adopt
from tether.history.indexer import Indexer
from tether.history.synthetic import Expected, codex_session, write_codex
from tether.ledger import history as ledger_history
from tether.ledger import hosts, projects, sessions, turns
from tether.ledger.schema import history_files
from tether.ledger.store import Ledger, open_ledger

pytestmark = pytest.mark.postgres
T0 = 1767225600.0


class Machine:
    """A machine's home tree, put at the shared path while its host indexes it."""

    def __init__(self, shared: Path, parked: Path) -> None:
        self.shared = shared
        self.parked = parked

    def __enter__(self) -> None:
        self.parked.rename(self.shared)

    def __exit__(self, *exc: object) -> None:
        self.shared.rename(self.parked)


def _machine(root: Path, label: str, seed: int) -> tuple[Path, str]:
    """Park a home with an OpenCode store of recorded rows and a Codex rollout."""
    shared = root / "home"
    _load(make_store(shared / "data" / "opencode" / "opencode.db"), label)
    rollout = codex_session(random.Random(seed), Expected(), T0, 2)
    write_codex(shared / "codex", rollout)
    parked = root / f"machine-{label}"
    shared.rename(parked)
    return parked, rollout.native_id


def _host_ledger(pg_url: str, root: Path, name: str) -> tuple[Indexer, Ledger]:
    home = root / "home"
    environ = {
        "TETHER_HOME": str(root / f"tether-{name}"),
        "TETHER_DATABASE_URL": pg_url,
        "TETHER_SERVER_HOST_NAME": name,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "CODEX_HOME": str(home / "codex"),
        "CLAUDE_CONFIG_DIR": str(home / "claude"),
    }
    (root / f"tether-{name}").mkdir()
    config = load(environ)
    ledger = open_ledger(config)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in environ.items():
            patch.setenv(key, value)
        return Indexer(config, ledger), ledger


def _files(ledger: Ledger) -> list[tuple[str, str, str | None]]:
    with ledger.db.read() as conn:
        rows = conn.execute(
            select(history_files.c.host, history_files.c.agent, history_files.c.native_id)
        )
        return sorted(tuple(r) for r in rows)  # type: ignore[misc]


def _sessions_usage(ledger: Ledger) -> list[tuple[int, int, int]]:
    with ledger.db.read() as conn:
        rows = ledger_history.usage_report(conn, "session")
    return sorted((r["input_tokens"], r["cached_input_tokens"], r["output_tokens"]) for r in rows)


def test_two_hosts_index_the_same_paths_on_their_own_machines(tmp_path: Path, pg_url: str) -> None:
    parked_a, codex_a = _machine(tmp_path, "main", seed=1)
    parked_b, codex_b = _machine(tmp_path, "tool", seed=2)
    shared = tmp_path / "home"
    host_a, ledger_a = _host_ledger(pg_url, tmp_path, "build-a")
    host_b, ledger_b = _host_ledger(pg_url, tmp_path, "build-b")
    try:
        with Machine(shared, parked_a):
            first_a = host_a.run_once()
        with Machine(shared, parked_b):
            first_b = host_b.run_once()
        assert first_a.errors == [] and first_b.errors == []
        # B read its own store from the start: A's watermark at the same path is A's
        assert first_b.files_read == first_a.files_read == 2
        assert _files(ledger_a) == sorted(
            [
                ("build-a", "codex", codex_a),
                ("build-a", "opencode", None),
                ("build-b", "codex", codex_b),
                ("build-b", "opencode", None),
            ]
        )
        with Machine(shared, parked_a):  # A rescans only its own files: B's are not on its disk
            again_a = host_a.run_once(walk=False)
            walked_a = host_a.run_once(walk=True)
        with Machine(shared, parked_b):
            again_b = host_b.run_once(walk=True)
        for report in (again_a, walked_a, again_b):
            assert (report.errors, report.files_read, report.bytes_read) == ([], 0, 0)
        assert len(_files(ledger_a)) == 4  # nothing of either host was deleted or replaced
        usage = _sessions_usage(ledger_a)
        assert (160, 40, 20) in usage and len(usage) == 4  # two OpenCode, two Codex sessions
    finally:
        ledger_a.close()
        ledger_b.close()


def _opencode_ids(label: str) -> set[str]:
    rows = json.loads((ROWS / f"{label}.opencode-rows.json").read_text())
    return {s["id"] for s in rows["session"]}


def _claim_all(ledger: Ledger, host: str) -> set[str]:
    with ledger.db.write() as conn:
        return {t.session_id for t in turns.claim(conn, host, 100, only_own=True)}


def test_external_sessions_run_on_the_host_whose_logs_hold_them(
    tmp_path: Path, pg_url: str
) -> None:
    """Only the machine with a thread's native logs can resume it: its turns are claimed there."""
    parked_a, codex_a = _machine(tmp_path, "main", seed=1)
    parked_b, codex_b = _machine(tmp_path, "tool", seed=2)
    shared = tmp_path / "home"
    host_a, ledger_a = _host_ledger(pg_url, tmp_path, "build-a")
    host_b, ledger = _host_ledger(pg_url, tmp_path, "build-b")
    (tmp_path / "web").mkdir()
    try:
        with Machine(shared, parked_a):
            host_a.run_once()
        with Machine(shared, parked_b):
            host_b.run_once()
        with ledger.db.write() as conn:
            for name in ("build-a", "build-b"):
                hosts.register(conn, name, None, 1, {})
            projects.add(conn, tmp_path / "web", name="web", host="build-b")
            external = sessions.list_page(conn, limit=50).items
            catch_all = {projects.get(conn, f"external-{a}").host for a in ("codex", "opencode")}
        assert catch_all == {None}  # projects on no host: any host could claim their turns
        found = {(s.agent, s.native_id): s for s in external}
        expected = {("codex", codex_a): "build-a", ("codex", codex_b): "build-b"}
        expected.update({("opencode", n): "build-a" for n in _opencode_ids("main")})
        expected.update({("opencode", n): "build-b" for n in _opencode_ids("tool")})
        assert {key: s.host for key, s in found.items()} == expected
        assert {s.origin for s in external} == {Origin.EXTERNAL}

        # adopted into a project checked out on b, a's thread stays on a
        adopted = adopt(ledger, found[("codex", codex_a)].id, project="web")
        assert (adopted.project, adopted.host) == ("web", "build-a")
        with pytest.raises(Conflict, match="runs on host build-a, where its codex thread"):
            accept.attach(host_b.config, ledger, adopted.id, os.getpid(), None)  # b lacks its log
        with ledger.db.write() as conn:
            listed = sessions.list_page(conn, limit=50).items
            for session in listed:
                turns.add(conn, session, "go on")
        on = {h: {s.id for s in listed if s.host == h} for h in ("build-a", "build-b")}
        assert adopted.id in on["build-a"] and len(on["build-a"]) + len(on["build-b"]) == len(
            listed
        )
        assert _claim_all(ledger, "build-c") == set()  # a third host has none of these logs
        assert _claim_all(ledger, "build-b") == on["build-b"]
        assert _claim_all(ledger, "build-a") == on["build-a"]
    finally:
        ledger_a.close()
        ledger.close()


def _doctor_history(pg_url: str, root: Path, name: str) -> dict[str, Any]:
    """``tether doctor --json``'s history check, run as host ``name``."""
    env = daemon_env(root / f"tether-{name}")
    env.update(TETHER_DATABASE_URL=pg_url, TETHER_SERVER_HOST_NAME=name)
    done = subprocess.run(
        [*TETHER, "doctor", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    return next(c for c in json.loads(done.stdout) if c["check"] == "history")  # type: ignore[no-any-return]


def test_doctor_reports_its_own_machine_s_logs_and_counts_the_others(
    tmp_path: Path, pg_url: str
) -> None:
    parked_a, _ = _machine(tmp_path, "main", seed=1)
    parked_b, _ = _machine(tmp_path, "tool", seed=2)
    store_b = parked_b / "data" / "opencode" / "opencode.db"
    store_b.write_bytes(b"this is not a database" * 100)  # b's store only; a's is sound
    shared = tmp_path / "home"
    host_a, ledger_a = _host_ledger(pg_url, tmp_path, "build-a")
    host_b, ledger_b = _host_ledger(pg_url, tmp_path, "build-b")
    try:
        with Machine(shared, parked_a):
            assert host_a.run_once().errors == []
        with Machine(shared, parked_b):
            assert any("opencode.db" in e for e in host_b.run_once().errors)
    finally:
        ledger_a.close()
        ledger_b.close()
    on_a = _doctor_history(pg_url, tmp_path, "build-a")
    on_b = _doctor_history(pg_url, tmp_path, "build-b")
    assert on_a["ok"], on_a  # the unreadable store is b's: a's own at that path was read
    assert on_a["detail"].startswith("2 native log files; 0 bad lines")
    elsewhere = "; 1 unreadable on 1 other host (`tether doctor` there names them)"
    assert on_a["detail"].endswith(elsewhere)
    assert not on_b["ok"] and "unreadable, e.g. " in on_b["detail"], on_b
    assert "other host" not in on_b["detail"]
