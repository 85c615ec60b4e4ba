"""The installed CLI and daemon as subprocesses: auto-start, crash, reattach, exit codes."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.engine.conftest import FAKE_AGENT, write_config
from tests.support import TETHER, CliHome


class Home(CliHome):
    """A home whose fake agent logs every run to ``agent.log``."""

    def __init__(self, path: Path, work: Path) -> None:
        super().__init__(path, work, FAKE_AGENT_LOG=str(path / "agent.log"))

    def daemon_pid(self) -> int:
        return int(json.loads((self.path / "daemon.json").read_text())["pid"])


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    path, work = tmp_path / "home", tmp_path / "work"
    path.mkdir()
    work.mkdir()
    # A start budget no loaded machine reaches: a slow start must not become a retry
    # (a second agent run) in tests that count the runs.
    write_config(path, max_parallel=4, start_timeout_s=300)
    h = Home(path, work)
    assert h.run("project", "add", str(work), "--name", "work", "--agent", "fake").returncode == 0
    yield h
    h.run("daemon", "stop")


def test_spawn_send_wait_log_cancel(home: Home) -> None:
    spawned = home.run("spawn", "--project", "work", "--json", "hello", "there")
    assert spawned.returncode == 0, spawned.stderr
    assert "started the tether daemon" in spawned.stderr
    accepted = json.loads(spawned.stdout)
    session, turn = accepted["session"]["id"], accepted["turn"]["id"]
    assert (session, turn, accepted["turn"]["state"]) == ("work-1", "work-1.1", "queued")

    waited = home.run("wait", turn, "--timeout", "60", "--json")
    assert waited.returncode == 0 and json.loads(waited.stdout)["state"] == "completed"

    first = home.json("send", session, "--key", "k1", "again")
    second = home.json("send", session, "--key", "k1", "again")
    assert first["turn"]["id"] == second["turn"]["id"] == "work-1.2"  # type: ignore[index]
    assert first["created"] is True and second["created"] is False
    assert home.run("wait", session, "--timeout", "60").returncode == 0

    log = home.json("log", session)
    messages = [e["preview"] for e in log["items"] if e["kind"] == "message"]  # type: ignore[attr-defined]
    assert messages == ["echo: again", "echo: hello there"]
    shown = home.json("show", session)
    assert [t["state"] for t in shown["turns"]] == ["completed", "completed"]  # type: ignore[attr-defined]

    slow = home.json("send", session, "@sleep=60")["turn"]["id"]  # type: ignore[index]
    assert home.run("wait", slow, "--timeout", "0.5").returncode == 124
    cancelled = home.run("cancel", slow, "--json")
    assert cancelled.returncode == 0 and json.loads(cancelled.stdout)["outcome"] == "cancelled"
    assert home.run("wait", slow, "--timeout", "10").returncode == 1
    finished = home.run("cancel", slow, "--json")
    assert json.loads(finished.stdout)["outcome"] == "already_finished"
    missing = home.run("cancel", "work-1.99", "--json")
    assert missing.returncode == 2 and json.loads(missing.stdout)["outcome"] == "not_found"
    assert home.run("cancel", "../etc").returncode == 2


def test_daemon_sigkill_mid_turn_then_reattach(home: Home) -> None:
    accepted = home.json("spawn", "--project", "work", "@sleep=3 @slow")
    turn, session = accepted["turn"]["id"], accepted["session"]["id"]  # type: ignore[index]
    queued = home.json("send", session, "after the crash")["turn"]["id"]  # type: ignore[index]
    deadline = time.monotonic() + 180
    while home.json("show", session)["turns"][0]["phases"]["first_event"] is None:  # type: ignore[index]
        assert time.monotonic() < deadline, "the turn never started"
        time.sleep(0.1)
    os.kill(home.daemon_pid(), signal.SIGKILL)
    while home.run("daemon", "status").returncode != 1:
        assert time.monotonic() < deadline, "the killed daemon still answers"
        time.sleep(0.1)
    restarted = home.serve()
    try:
        assert home.run("wait", turn, "--timeout", "60").returncode == 0
        assert home.run("wait", queued, "--timeout", "60").returncode == 0
        log = home.json("log", session, "--limit", "500")
        texts = [e["preview"] for e in log["items"] if e["kind"] == "message"]  # type: ignore[attr-defined]
        assert sorted(texts) == sorted(
            [f"part {i}" for i in range(5)] + ["echo: @sleep=3 @slow", "echo: after the crash"]
        ), "the stream was not ingested exactly once"
        runs = (home.path / "agent.log").read_text().splitlines()
        assert len(runs) == 2, "a turn ran twice"
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=30)


def test_attach_holds_the_lane_and_resumes_the_exact_thread(home: Home, tmp_path: Path) -> None:
    fake_codex = tmp_path / "codex"
    fake_codex.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_AGENT}" "$@"\n')
    fake_codex.chmod(0o755)
    with (home.path / "config.toml").open("a") as handle:
        handle.write(f'\n[agents.codex]\ncommand = "{fake_codex}"\n')
    accepted = home.json("spawn", "--project", "work", "--agent", "codex", "first")
    session = accepted["session"]["id"]  # type: ignore[index]
    assert home.run("wait", session, "--timeout", "60").returncode == 0
    native_id = home.json("show", session)["native_id"]

    release = tmp_path / "detach"  # the attached agent lives until the test is done with it
    attach = subprocess.Popen(
        [*TETHER, "attach", session],
        env={**home.env, "FAKE_AGENT_UNTIL": str(release)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 180
    while len(home.json("show", session)["turns"]) < 2:  # type: ignore[arg-type]
        assert time.monotonic() < deadline and attach.poll() is None, "attach never took the lane"
        time.sleep(0.1)
    queued = home.json("send", session, "while attached")["turn"]["id"]  # type: ignore[index]
    time.sleep(1)  # a chance for the engine to dispatch it wrongly; load only makes it longer
    turns = home.json("show", session)["turns"]
    assert [(t["kind"], t["state"]) for t in turns] == [  # type: ignore[union-attr]
        ("prompt", "completed"),
        ("attached", "running"),
        ("prompt", "queued"),
    ]
    release.touch()
    _, err = attach.communicate(timeout=60)
    assert attach.returncode == 0, err
    assert f"resume {native_id}" in err
    assert home.run("wait", queued, "--timeout", "60").returncode == 0
    turns = home.json("show", session)["turns"]
    assert turns[1]["state"] == "completed"  # type: ignore[index]
    lines = (home.path / "agent.log").read_text().splitlines()
    # The daemon's host record asks each agent for its --version: not a turn.
    runs = [line.split(" ", 1)[0] for line in lines if not line.endswith(" --version")]
    assert runs == [native_id] * 3, "a turn or the attach ran on another thread"


def test_attach_refuses_a_session_without_a_native_id(home: Home) -> None:
    accepted = home.json("spawn", "--project", "work", "@exit-early")
    session = accepted["session"]["id"]  # type: ignore[index]
    home.run("wait", session, "--timeout", "120")
    refused = home.run("attach", session)
    assert refused.returncode == 1 and "no captured" in refused.stderr


def test_two_clis_starting_the_daemon_at_once_share_one(home: Home) -> None:
    procs = [
        subprocess.Popen(
            [*TETHER, "spawn", "--project", "work", "--json", f"race {i}"],
            env=home.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in results]
    ids = sorted(json.loads(out)["session"]["id"] for out, _ in results)
    assert ids == ["work-1", "work-2", "work-3"]
    assert home.run("daemon", "status").returncode == 0
