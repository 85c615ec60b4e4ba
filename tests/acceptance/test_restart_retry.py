"""Commands that race a daemon restart neither fail nor double.

The daemon is frozen (SIGSTOP) so that the CLI's request provably sits in its
listen queue, then killed and replaced: the CLI must retry with the same key
and end with exactly one session.
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.engine.conftest import write_config
from tests.support import daemon_env

TETHER = [sys.executable, "-m", "tether.cli.main"]
DEADLINE_S = 90


class Home:
    def __init__(self, path: Path, work: Path) -> None:
        self.path = path
        self.env = daemon_env(path, FAKE_AGENT_HOME=str(work))

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*TETHER, *args], env=self.env, capture_output=True, text=True, timeout=120
        )

    def info(self) -> dict[str, object] | None:
        try:
            return json.loads((self.path / "daemon.json").read_text())  # type: ignore[no-any-return]
        except (FileNotFoundError, ValueError):
            return None

    def serve(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*TETHER, "serve"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_for_daemon(self, not_pid: int | None = None) -> dict[str, object]:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            info = self.info()
            ready = info is not None and info["pid"] != not_pid
            if ready and self.run("daemon", "status").returncode == 0:
                return info  # type: ignore[return-value]
            assert time.monotonic() < deadline, "no daemon came up"
            time.sleep(0.1)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    path, work = tmp_path / "home", tmp_path / "work"
    path.mkdir()
    work.mkdir()
    write_config(path)
    h = Home(path, work)
    assert h.run("project", "add", str(work), "--name", "work", "--agent", "fake").returncode == 0
    yield h
    h.run("daemon", "stop")


def _queued_connections(port: int) -> int:
    """Connections waiting in the listen queue of 127.0.0.1:port (rx_queue of the LISTEN row)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, queues = fields[1], fields[3], fields[4]
        if state == "0A" and int(local.split(":")[1], 16) == port:
            return int(queues.split(":")[1], 16)
    return 0


def test_spawn_survives_a_daemon_restart_during_the_call(home: Home) -> None:
    first = home.serve()
    info = home.wait_for_daemon()
    port, pid = int(str(info["port"])), int(str(info["pid"]))
    os.kill(pid, signal.SIGSTOP)
    cli = subprocess.Popen(
        [*TETHER, "spawn", "--project", "work", "--json", "hello"],
        env=home.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + DEADLINE_S
        while _queued_connections(port) == 0:
            assert time.monotonic() < deadline and cli.poll() is None, "the CLI never connected"
            time.sleep(0.05)
    finally:
        os.kill(pid, signal.SIGKILL)
        first.wait(timeout=60)
    home.serve()  # a supervisor restarting the daemon (the CLI may win that race)
    out, err = cli.communicate(timeout=120)
    assert cli.returncode == 0, err
    accepted = json.loads(out)
    assert (accepted["session"]["id"], accepted["turn"]["id"]) == ("work-1", "work-1.1")
    listing = json.loads(home.run("ls", "--json").stdout)
    assert [s["id"] for s in listing["items"]] == ["work-1"]


def _post(info: dict[str, object], body: dict[str, object]) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(str(info["host"]), int(str(info["port"])), timeout=60)
    try:
        headers = {"content-type": "application/json"}
        conn.request("POST", "/api/sessions", json.dumps(body).encode(), headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_a_spawn_key_outlives_the_daemon(home: Home) -> None:
    home.serve()
    before = home.wait_for_daemon()
    body: dict[str, object] = {"prompt": "hello", "project": "work", "key": "lost-answer"}
    status, first = _post(before, body)
    assert status == 201
    os.kill(int(str(before["pid"])), signal.SIGKILL)  # the answer "never arrived"
    home.serve()
    after = home.wait_for_daemon(not_pid=int(str(before["pid"])))
    status, again = _post(after, body)
    assert status == 200 and again["created"] is False
    assert again["session"]["id"] == first["session"]["id"]
    assert again["turn"]["id"] == first["turn"]["id"]
