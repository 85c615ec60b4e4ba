"""The notifier on a real ledger: real HTTP receivers on 127.0.0.1 and a real command.

Receivers: one that answers 500 then 200, one that hangs until the test lets
it go, one that is not there at all. The command is a Python script that
appends its argv and environment to a file. Conditions are waited for with
deadlines of minutes; nothing depends on a fixed sleep.
"""

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.notice_sinks import Receiver, recorded, recorder
from tests.support import wait_for

from tether.config import Config, NotifySettings
from tether.domain.notices import notice_for
from tether.domain.records import Session
from tether.domain.states import TurnState
from tether.errors import NotFound
from tether.ledger import notices, projects, sessions, turns
from tether.ledger.store import Ledger
from tether.notify.notifier import Notifier

HOSTILE = "$(touch PWNED); `touch PWNED2` | rm -rf / <script>"


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def _notify_config(config: Config, **settings: Any) -> Config:
    return replace(config, notify=NotifySettings(**{"timeout_s": 2.0, **settings}))


def _session(ledger: Ledger, tmp_path: Path, title: str = "fix the flaky test") -> Session:
    (tmp_path / "web").mkdir(exist_ok=True)
    with ledger.db.write() as conn:
        try:
            owner = projects.get(conn, "web")
        except NotFound:
            projects.add(conn, tmp_path / "web", name="web")
            owner = projects.get(conn, "web")
        return sessions.create(conn, owner, "codex", str(tmp_path / "web"), title=title)


def _end(ledger: Ledger, session: Session, state: TurnState, reason: str | None = None) -> str:
    with ledger.db.write() as conn:
        turn, _ = turns.add(conn, session, "do the thing")
        turns.transition(conn, turn.id, TurnState.DISPATCHED, dispatched_at=time.time())
        turns.transition(conn, turn.id, TurnState.RUNNING, spawned_at=time.time())
        turns.transition(conn, turn.id, state, reason=reason, finished_at=time.time())
    return turn.id


def _rows(ledger: Ledger) -> list[dict[str, Any]]:
    with ledger.db.read() as conn:
        return notices.all_of(conn)


def test_command_gets_each_notice_once_with_fields_as_arguments_never_a_shell(
    config: Config, ledger: Ledger, tmp_path: Path, stop: threading.Event
) -> None:
    argv, out = recorder(tmp_path)
    notifier = Notifier(_notify_config(config, command=argv), ledger)
    notifier.start(stop)
    wait_for(lambda: _cursor(ledger, config), "the notifier's first cursor")
    session = _session(ledger, tmp_path, title=HOSTILE)
    failed = _end(ledger, session, TurnState.FAILED, f"agent exited with status 3 {HOSTILE}")
    done = _end(ledger, session, TurnState.COMPLETED)
    _end(ledger, session, TurnState.CANCELLED, "cancelled by alice")
    notifier.nudge()

    lines = wait_for(lambda: len(recorded(out)) >= 2 and recorded(out), "two notices run")
    assert [line["tag"] for line in lines] == [f"{failed}:failed", f"{done}:completed"]
    urgent, finished = lines
    assert urgent["argv"][0] == f"{failed} needs you: failed"
    assert urgent["argv"][1] == "--"
    assert urgent["argv"][2] == f"agent exited with status 3 {HOSTILE}"
    assert urgent["argv"][3] == HOSTILE  # one word each, whatever it holds
    assert urgent["stdin"]["kind"] == "needs_you" and urgent["stdin"]["cue"]["sound"] is True
    assert finished["stdin"]["kind"] == "finished" and finished["stdin"]["cue"]["sound"] is False
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()
    rows = wait_for(
        lambda: all(r["command_at"] for r in _rows(ledger)) and _rows(ledger), "runs saved"
    )
    assert all(r["command_error"] is None for r in rows)
    assert all(r["webhook_error"] == "not configured" for r in rows)
    assert len(recorded(out)) == 2  # the cancelled turn is no notice


def _cursor(ledger: Ledger, config: Config) -> bool:
    with ledger.db.read() as conn:
        return notices.cursor(conn, config.host_name) is not None


def test_webhook_retries_a_500_then_delivers(
    config: Config, ledger: Ledger, tmp_path: Path, stop: threading.Event
) -> None:
    receiver = Receiver(lambda number: 500 if number == 0 else 200)
    try:
        notifier = Notifier(_notify_config(config, webhook=receiver.url), ledger)
        notifier.start(stop)
        wait_for(lambda: _cursor(ledger, config), "the notifier's first cursor")
        turn = _end(ledger, _session(ledger, tmp_path), TurnState.TIMED_OUT, "no progress")
        notifier.nudge()
        wait_for(receiver.delivered, "a delivery answered 200")
        assert receiver.answered == [(f"{turn}:timed_out", 500), (f"{turn}:timed_out", 200)]
        body = receiver.bodies[1]
        assert body["headline"] == f"{turn} needs you: timed out"
        assert body["reason"] == "no progress" and body["url"].startswith("/sessions/")
        row = wait_for(lambda: [r for r in _rows(ledger) if r["webhook_at"]], "delivery saved")[0]
        assert row["webhook_attempts"] == 2 and row["webhook_error"] is None
    finally:
        receiver.close()


def test_a_hanging_webhook_delays_only_itself_and_loses_nothing(
    config: Config, ledger: Ledger, tmp_path: Path, stop: threading.Event
) -> None:
    receiver = Receiver(lambda number: 200)
    receiver.gate.clear()  # every request hangs until the test lets them go
    argv, out = recorder(tmp_path)
    try:
        settings = {"webhook": receiver.url, "command": argv, "max_attempts": 1000}
        notifier = Notifier(_notify_config(config, **settings), ledger)
        notifier.start(stop)
        wait_for(lambda: _cursor(ledger, config), "the notifier's first cursor")
        session = _session(ledger, tmp_path)
        ended = [_end(ledger, session, TurnState.COMPLETED) for _ in range(3)]
        notifier.nudge()
        tags = [f"{t}:completed" for t in ended]

        # The command gets all three while every webhook request hangs.
        wait_for(lambda: [line["tag"] for line in recorded(out)] == tags, "the command runs")
        wait_for(lambda: len(receiver.bodies) >= 2, "a timed-out request is retried")
        assert receiver.delivered() == []
        assert all(r["webhook_at"] is None for r in _rows(ledger))

        receiver.gate.set()
        wait_for(lambda: all(r["webhook_at"] for r in _rows(ledger)), "all delivered")
        assert set(receiver.delivered()) == set(tags)
        assert [b["tag"] for b in receiver.bodies if b["tag"] != tags[0]] == tags[1:]
        rows = _rows(ledger)
        assert rows[0]["webhook_attempts"] >= 2 and all(r["webhook_error"] is None for r in rows)
    finally:
        receiver.close()


def test_a_dead_webhook_is_given_up_after_its_attempts_and_the_command_still_runs(
    config: Config, ledger: Ledger, tmp_path: Path, stop: threading.Event
) -> None:
    dead = Receiver(lambda number: 200)
    url = dead.url
    dead.close()  # nothing listens on that port any more
    argv, out = recorder(tmp_path)
    notifier = Notifier(_notify_config(config, webhook=url, command=argv, max_attempts=2), ledger)
    notifier.start(stop)
    wait_for(lambda: _cursor(ledger, config), "the notifier's first cursor")
    turn = _end(ledger, _session(ledger, tmp_path), TurnState.INTERRUPTED, "daemon restarted")
    notifier.nudge()
    wait_for(lambda: recorded(out), "the command runs")
    row = wait_for(lambda: [r for r in _rows(ledger) if r["webhook_at"]], "webhook given up")[0]
    assert row["tag"] == f"{turn}:interrupted"
    assert row["webhook_attempts"] == 2 and "unreachable" in row["webhook_error"]


def test_each_notice_once_across_a_restart_and_what_ended_meanwhile_is_told(
    config: Config, ledger: Ledger, tmp_path: Path
) -> None:
    argv, out = recorder(tmp_path)
    configured = _notify_config(config, command=argv)
    first_stop = threading.Event()
    first = Notifier(configured, ledger)
    first_threads = first.start(first_stop)
    wait_for(lambda: _cursor(ledger, config), "the notifier's first cursor")
    session = _session(ledger, tmp_path)
    before = _end(ledger, session, TurnState.FAILED, "boom")
    first.nudge()
    wait_for(lambda: len(recorded(out)) == 1, "the first notice")
    first_stop.set()
    # Stopped means its threads ended: a delivery is marked in the ledger just after the
    # command ran, and a notifier started in between would rightly deliver it again.
    wait_for(lambda: not any(t.is_alive() for t in first_threads), "the first notifier ends")

    meanwhile = _end(ledger, session, TurnState.COMPLETED)
    with ledger.db.write() as conn:  # a stale cursor: the restart re-reads the first turn too
        notices.save_cursor(conn, config.host_name, (0, 0))
    second_stop = threading.Event()
    try:
        Notifier(configured, ledger).start(second_stop)
        wait_for(lambda: len(recorded(out)) == 2, "the notice of what ended meanwhile")
        tags = [line["tag"] for line in recorded(out)]
        assert tags == [f"{before}:failed", f"{meanwhile}:completed"]
        assert [r["tag"] for r in _rows(ledger)] == tags
    finally:
        second_stop.set()


def test_a_stalled_turn_needs_you_once_per_stall(
    config: Config, ledger: Ledger, tmp_path: Path
) -> None:
    session = _session(ledger, tmp_path)
    with ledger.db.write() as conn:
        turn, _ = turns.add(conn, session, "long job")
        turns.transition(conn, turn.id, TurnState.DISPATCHED, dispatched_at=time.time())
        turns.update_fields(conn, turn.id, {"stalled_at": 1000.0})
    notifier = Notifier(config, ledger)
    # On PostgreSQL a write is readable once older transactions on the server have ended.
    wait_for(lambda: notifier.read_once((0, 0)) and _rows(ledger), "the first stall is read")
    notifier.read_once((0, 0))
    with ledger.db.write() as conn:
        turns.update_fields(conn, turn.id, {"stalled_at": None})
        turns.update_fields(conn, turn.id, {"stalled_at": 2000.0})
    rows = wait_for(
        lambda: notifier.read_once((0, 0)) and len(_rows(ledger)) == 2 and _rows(ledger),
        "the second stall is read",
    )
    assert [r["tag"] for r in rows] == [f"{turn.id}:stalled:1000", f"{turn.id}:stalled:2000"]
    assert json.loads(rows[0]["payload"])["headline"] == f"{turn.id} needs you: stalled"


def test_old_notices_every_sink_is_done_with_are_pruned(
    config: Config, ledger: Ledger, tmp_path: Path
) -> None:
    session = _session(ledger, tmp_path)
    old = _end(ledger, session, TurnState.FAILED, "boom")
    pending = _end(ledger, session, TurnState.COMPLETED)
    with ledger.db.write() as conn:
        for turn_id, sinks in ((old, set()), (pending, {"webhook"})):
            notice = notice_for(turns.get(conn, turn_id), session)
            assert notice is not None
            notices.add(conn, notice, config.host_name, sinks)  # type: ignore[arg-type]
        assert notices.prune(conn, time.time() + 1) == 1  # the pending one is kept
    assert [r["turn_id"] for r in _rows(ledger)] == [pending]


def test_two_hosts_on_one_ledger_deliver_each_notice_once(
    config: Config, ledger: Ledger, tmp_path: Path, stop: threading.Event
) -> None:
    argv, out = recorder(tmp_path)
    hosts = []
    for name in ("host-a", "host-b"):
        host = replace(
            _notify_config(config, command=argv), server=replace(config.server, host_name=name)
        )
        hosts.append(Notifier(host, ledger))
        hosts[-1].start(stop)
    wait_for(
        lambda: all(
            _cursor(ledger, replace(config, server=replace(config.server, host_name=n)))
            for n in ("host-a", "host-b")
        ),
        "both notifiers' cursors",
    )
    session = _session(ledger, tmp_path)
    ended = [_end(ledger, session, TurnState.FAILED, f"boom {i}") for i in range(5)]
    for notifier in hosts:
        notifier.nudge()
    tags = [f"{t}:failed" for t in ended]
    wait_for(lambda: sorted(r["tag"] for r in recorded(out)) == sorted(tags), "five runs")
    rows = wait_for(lambda: all(r["command_at"] for r in _rows(ledger)) and _rows(ledger), "saved")
    assert sorted(r["tag"] for r in rows) == sorted(tags)
    assert {r["host"] for r in rows} <= {"host-a", "host-b"}
    assert len(recorded(out)) == 5  # each once, whichever host wrote it


def test_a_receiver_that_speaks_no_http_is_a_failed_delivery_not_a_dead_worker(
    config: Config, ledger: Ledger, tmp_path: Path, stop: threading.Event
) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def garbage() -> None:
        while True:
            try:
                peer, _ = listener.accept()
            except OSError:
                return
            with peer:
                peer.recv(65536)
                peer.sendall(b"this is not HTTP\r\n\r\n")

    threading.Thread(target=garbage, daemon=True).start()
    try:
        settings = {"webhook": f"http://127.0.0.1:{port}/", "max_attempts": 2}
        notifier = Notifier(_notify_config(config, **settings), ledger)
        notifier.start(stop)
        wait_for(lambda: _cursor(ledger, config), "the notifier's first cursor")
        session = _session(ledger, tmp_path)
        first = _end(ledger, session, TurnState.FAILED, "one")
        notifier.nudge()
        row = wait_for(lambda: [r for r in _rows(ledger) if r["webhook_at"]], "given up")[0]
        assert row["turn_id"] == first and "no HTTP" in row["webhook_error"]
        second = _end(ledger, session, TurnState.FAILED, "two")  # the worker is still there
        notifier.nudge()
        wait_for(
            lambda: [r for r in _rows(ledger) if r["turn_id"] == second and r["webhook_at"]],
            "the next notice tried too",
        )
    finally:
        listener.close()
