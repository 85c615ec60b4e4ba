"""``tether serve`` with ``[notify]`` in its config.toml: turns of the fake agent that fail
or complete reach a real webhook on 127.0.0.1 and a real command, once each, through
a SIGKILL of the daemon and a restart."""

import json
import os
import signal
import time
from pathlib import Path

from tests.fakes.notice_sinks import Receiver, recorded, recorder
from tests.support import cli_home, wait_for

from tether.config import load
from tether.domain.states import TurnState
from tether.ledger import sessions, turns
from tether.ledger.store import open_ledger


def test_the_daemon_notifies_webhook_and_command_once_across_a_kill(tmp_path: Path) -> None:
    receiver = Receiver(lambda number: 500 if number == 0 else 200)
    home = cli_home(tmp_path)
    argv, out = recorder(tmp_path)
    with (home.path / "config.toml").open("a") as config:
        config.write(
            f"\n[notify]\nwebhook = {json.dumps(receiver.url)}\ncommand = {json.dumps(argv)}\n"
        )
    try:
        proc = home.serve()
        failed = home.json("spawn", "--project", "work", "@fail")
        session_id, failed_turn = failed["session"]["id"], failed["turn"]["id"]  # type: ignore[index]
        assert home.run("wait", str(failed_turn)).returncode == 1
        done = home.json("send", str(session_id), "hello")["turn"]["id"]  # type: ignore[index]
        assert home.run("wait", str(done)).returncode == 0
        first = [f"{failed_turn}:failed", f"{done}:completed"]
        wait_for(lambda: [r["tag"] for r in recorded(out)] == first, "the command runs twice")
        wait_for(lambda: receiver.delivered() == first, "the webhook gets both")
        assert receiver.answered[0] == (first[0], 500)  # retried after the 500

        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        ledger = open_ledger(load(home.env))
        try:
            with ledger.db.write() as conn:  # a turn that ended while no daemon ran
                session = sessions.get(conn, str(session_id))
                turn, _ = turns.add(conn, session, "while the daemon was down")
                turns.transition(conn, turn.id, TurnState.DISPATCHED, dispatched_at=time.time())
                turns.transition(conn, turn.id, TurnState.RUNNING, spawned_at=time.time())
                turns.transition(conn, turn.id, TurnState.INTERRUPTED, reason="host rebooted")
        finally:
            ledger.close()
        (home.path / "daemon.json").unlink(missing_ok=True)
        home.serve()

        every = [*first, f"{turn.id}:interrupted"]
        wait_for(lambda: [r["tag"] for r in recorded(out)] == every, "the missed one, once")
        wait_for(lambda: receiver.delivered() == every, "the webhook gets the missed one")
        late = recorded(out)[-1]
        assert late["argv"][0] == f"{turn.id} needs you: interrupted"
        assert late["stdin"]["reason"] == "host rebooted"
    finally:
        home.run("daemon", "stop")
        receiver.close()
