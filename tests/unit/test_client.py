"""The CLI's client retries through a dropped connection with the same idempotency key."""

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tether.cli import client
from tether.config import load
from tether.errors import DaemonError
from tether.server.address import DaemonInfo


class Flaky(BaseHTTPRequestHandler):
    """Reads each request; hangs up on the first two without answering (a daemon dying)."""

    bodies: list[dict[str, object]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        Flaky.bodies.append(body)
        if len(Flaky.bodies) <= 2:
            self.close_connection = True
            return
        answer = json.dumps({"turn": {"id": "web-1.1"}, "key": body["key"]}).encode()
        self.send_response(201)
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DaemonInfo]:
    Flaky.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    info = DaemonInfo("127.0.0.1", server.server_address[1], 0, time.time())
    monkeypatch.setattr(client, "ensure_daemon", lambda config: info)
    yield info
    server.shutdown()


def test_a_repeatable_post_is_retried_with_the_same_body(flaky: DaemonInfo) -> None:
    answer = client.Client(load(), flaky).post(
        "/api/sessions", {"prompt": "hi", "key": "k-7"}, repeatable=True
    )
    assert answer["key"] == "k-7"
    assert [b["key"] for b in Flaky.bodies] == ["k-7", "k-7", "k-7"]


def test_a_post_that_may_have_arrived_is_not_repeated_without_a_key(flaky: DaemonInfo) -> None:
    with pytest.raises(DaemonError, match="cannot reach the daemon"):
        client.Client(load(), flaky).post("/api/turns/web-1.1/finish", {"exit_code": 0})
    assert len(Flaky.bodies) == 1


def test_gives_up_after_the_retry_budget(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = DaemonInfo("127.0.0.1", 9, 0, time.time())  # the discard port: connection refused
    monkeypatch.setattr(client, "ensure_daemon", lambda config: info)
    monkeypatch.setattr(client, "RETRY_FOR_S", 0.5)
    with pytest.raises(DaemonError, match=r"tried for 0.5s"):
        client.Client(load(), info).get("/api/sessions")
