"""Turn claims by several hosts on one ledger: each turn once, in lane order, on its host."""

import itertools
import random
import threading
import time
from pathlib import Path

from tether.domain.states import TurnState
from tether.ledger import hosts, projects, sessions, turns
from tether.ledger.db import Database
from tether.ledger.store import Ledger

HOSTS = ("a", "b", "c")


def _queue(ledger: Ledger, root: Path, host: str | None, sessions_n: int, turns_n: int) -> None:
    root.mkdir()
    with ledger.db.write() as conn:
        project = projects.add(conn, root, name=root.name, host=host)
        for _ in range(sessions_n):
            session = sessions.create(conn, project, "codex", str(root))
            for n in range(turns_n):
                turns.add(conn, session, f"turn {n}")


def _host_loop(
    url: str, host: str, only_own: bool, log: list[tuple[str, str, float, float]], total: int
) -> None:
    """Claim, 'run' for a moment, complete; until every turn has run (or a generous deadline)."""
    db = Database(url)
    deadline = time.monotonic() + 300
    try:
        while len(log) < total and time.monotonic() < deadline:
            with db.write() as conn:
                claimed = turns.claim(conn, host, random.randint(1, 4), only_own=only_own)
            if not claimed:
                time.sleep(0.01)
                continue
            for turn in claimed:
                started = time.monotonic()  # after the claim committed
                time.sleep(random.random() / 500)
                with db.write() as conn:
                    turns.transition(conn, turn.id, TurnState.RUNNING)
                    turns.transition(conn, turn.id, TurnState.COMPLETED, reason="done")
                    ended = time.monotonic()  # before the lane is released by the commit
                log.append((turn.id, host, started, ended))
    finally:
        db.dispose()


def test_three_hosts_claim_each_turn_once_in_lane_order(ledger: Ledger, tmp_path: Path) -> None:
    _queue(ledger, tmp_path / "shared", None, 20, 10)  # on no host: every host may claim
    log: list[tuple[str, str, float, float]] = []
    threads = [
        threading.Thread(target=_host_loop, args=(ledger.db.url, h, True, log, 200)) for h in HOSTS
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    ids = [entry[0] for entry in log]
    assert len(ids) == 200 and len(set(ids)) == 200, "a turn was claimed twice or never"
    assert len({entry[1] for entry in log}) == 3, "the work was not spread over the hosts"
    by_session: dict[str, list[tuple[int, float, float]]] = {}
    for turn_id, _, started, ended in log:
        session, number = turn_id.rsplit(".", 1)
        by_session.setdefault(session, []).append((int(number), started, ended))
    for session, runs in by_session.items():
        runs.sort(key=lambda r: r[1])
        assert [r[0] for r in runs] == list(range(1, 11)), f"{session} ran out of order"
        assert all(a[2] <= b[1] for a, b in itertools.pairwise(runs)), "lanes overlapped"
    with ledger.db.read() as conn:
        claimed = {t.id: t.host for s in by_session for t in turns.for_session(conn, s)}
    assert claimed == {turn_id: host for turn_id, host, _, _ in log}


def test_a_host_claims_only_its_own_projects(
    database_url: str, ledger: Ledger, tmp_path: Path
) -> None:
    _queue(ledger, tmp_path / "on-b", "b", 2, 2)
    _queue(ledger, tmp_path / "anywhere", None, 1, 1)
    with ledger.db.write() as conn:
        taken = turns.claim(conn, "a", 10, only_own=True)
    assert [t.id for t in taken] == ["anywhere-1.1"] and taken[0].host == "a"
    with ledger.db.write() as conn:
        taken = turns.claim(conn, "b", 10, only_own=True)
    assert sorted(t.id for t in taken) == ["on-b-1.1", "on-b-2.1"]
    assert {t.state for t in taken} == {TurnState.DISPATCHED}
    with ledger.db.write() as conn:
        assert turns.claim(conn, "b", 10, only_own=True) == []  # lanes busy
        assert turns.count_live(conn, host="b") == 2 and turns.count_live(conn) == 3


def test_a_silent_host_loses_its_live_turns_once(
    database_url: str, ledger: Ledger, tmp_path: Path
) -> None:
    _queue(ledger, tmp_path / "on-b", "b", 1, 2)
    with ledger.db.write() as conn:
        hosts.register(conn, "b", None, 1, {})
        (turn,) = turns.claim(conn, "b", 10, only_own=True)
    cutoff = time.time() - 60
    with ledger.db.write() as conn:
        assert hosts.silent_with_live_turns(conn, cutoff, "a") == []  # b beat just now
        assert turns.interrupt_silent_host(conn, "b", cutoff, "gone") == []
    later = time.time() + 1
    with ledger.db.write() as conn:
        assert [h.name for h in hosts.silent_with_live_turns(conn, later, "a")] == ["b"]
        assert hosts.silent_with_live_turns(conn, later, "b") == []  # never itself
        (ended,) = turns.interrupt_silent_host(conn, "b", later, "host b stopped answering")
        assert turns.interrupt_silent_host(conn, "b", later, "again") == []
        state = turns.run_state(conn, turn.id)
    assert ended.id == turn.id and ended.state is TurnState.INTERRUPTED
    assert ended.reason == "host b stopped answering" and state.outcome == "interrupted"
    with ledger.db.read() as conn:
        queued = turns.for_session(conn, turn.session_id)[1]
    assert queued.state is TurnState.QUEUED  # the next message waits for b, it is not lost
