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
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support import DEADLINE_S, TETHER, CliHome, cli_home


@pytest.fixture
def home(tmp_path: Path) -> Iterator[CliHome]:
    h = cli_home(tmp_path)
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


def test_spawn_survives_a_daemon_restart_during_the_call(home: CliHome) -> None:
    first = home.start()
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
    home.start()  # a supervisor restarting the daemon (the CLI may win that race)
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


def test_a_spawn_key_outlives_the_daemon(home: CliHome) -> None:
    home.start()
    before = home.wait_for_daemon()
    body: dict[str, object] = {"prompt": "hello", "project": "work", "key": "lost-answer"}
    status, first = _post(before, body)
    assert status == 201
    os.kill(int(str(before["pid"])), signal.SIGKILL)  # the answer "never arrived"
    home.start()
    after = home.wait_for_daemon(not_pid=int(str(before["pid"])))
    status, again = _post(after, body)
    assert status == 200 and again["created"] is False
    assert again["session"]["id"] == first["session"]["id"]
    assert again["turn"]["id"] == first["turn"]["id"]
