"""Attacks that need the real daemon on a real socket: huge bodies, idle connections, secrets."""

import json
import select
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.engine.conftest import write_config
from tests.support import TETHER, daemon_env

HUGE = 200 * 1024 * 1024
SECRET = "sk-tether-test-9f8e7d6c5b4a39281706"


class Daemon:
    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env
        info = json.loads((home / "daemon.json").read_text())
        self.host, self.port, self.pid = info["host"], info["port"], info["pid"]
        self.url = f"http://{self.host}:{self.port}"

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS in /proc status")

    def tether(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*TETHER, *args], env=self.env, capture_output=True, text=True, timeout=120
        )


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One daemon for the module: each attack leaves it serving the next."""
    tmp_path = tmp_path_factory.mktemp("attacks")
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    write_config(home)
    env = daemon_env(
        home,
        FAKE_AGENT_HOME=str(work),
        OPENAI_API_KEY=SECRET,
        ANTHROPIC_API_KEY=SECRET,
        GEMINI_API_KEY=SECRET,
    )
    add = [*TETHER, "project", "add", str(work), "--name", "work", "--agent", "fake"]
    subprocess.run(add, env=env, check=True, capture_output=True, timeout=120)
    proc = subprocess.Popen(
        [*TETHER, "serve"], env=env, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 180
    while not (home / "daemon.json").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the daemon did not start"
        time.sleep(0.05)
    try:
        yield Daemon(home, env)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _push(daemon: Daemon, head: str, chunked: bool) -> tuple[int, bytes]:
    """Send a 200 MB body as fast as the daemon takes it; stop when it answers."""
    sock = socket.create_connection((daemon.host, daemon.port), timeout=60)
    sock.sendall(head.encode())
    sock.setblocking(False)
    piece = b"[" * 65536
    if chunked:
        piece = b"%x\r\n" % len(piece) + piece + b"\r\n"
    sent, answer = 0, b""
    deadline = time.monotonic() + 120
    try:
        while sent < HUGE and b"\r\n\r\n" not in answer:
            assert time.monotonic() < deadline, f"no answer after {sent} bytes"
            readable, writable, _ = select.select([sock], [sock], [], 5)
            if readable:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
            elif writable:
                try:
                    sent += sock.send(piece)
                except BlockingIOError:
                    continue
    except (BrokenPipeError, ConnectionResetError):
        answer += sock.recv(65536)
    finally:
        sock.close()
    return sent, answer


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_200_mb_body_is_refused_without_being_read(daemon: Daemon, chunked: bool) -> None:
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {HUGE}"
    head = (
        f"POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1:{daemon.port}\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n\r\n"
    )
    before = daemon.rss_bytes()
    sent, answer = _push(daemon, head, chunked)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # The answer came while the client was still sending: the daemon read at most the
    # cap plus socket and parser buffers, never the 200 MB.
    assert sent < 32 * 1024 * 1024, sent
    assert daemon.rss_bytes() - before < 32 * 1024 * 1024
    assert httpx.get(f"{daemon.url}/api/health", timeout=60).json()["status"] == "ok"


def test_idle_half_open_connections_do_not_block_others(daemon: Daemon) -> None:
    idle = []
    for i in range(64):
        sock = socket.create_connection((daemon.host, daemon.port), timeout=60)
        partial = b"GET /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if i % 2:
            partial = b"POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 900\r\n"
            partial += b'Content-Type: application/json\r\n\r\n{"prompt": '
        sock.sendall(partial)
        idle.append(sock)
    try:
        listing = httpx.get(f"{daemon.url}/api/sessions", timeout=60)
        assert listing.status_code == 200 and "items" in listing.json()
    finally:
        for sock in idle:
            sock.close()


def test_api_keys_are_never_written_under_tether_home(daemon: Daemon) -> None:
    spawned = daemon.tether("spawn", "--project", "work", "--json", "hello")
    assert spawned.returncode == 0, spawned.stderr
    turn = json.loads(spawned.stdout)["turn"]["id"]
    waited = daemon.tether("wait", turn, "--timeout", "100")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    files = [p for p in daemon.home.rglob("*") if p.is_file()]
    assert any(p.name == "launch.json" for p in files)
    leaking = [p for p in files if SECRET.encode() in p.read_bytes()]
    assert leaking == []
