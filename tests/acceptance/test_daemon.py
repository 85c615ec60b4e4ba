"""The installed ``tether serve`` as a subprocess: address file, API, page, one per home."""

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support import TETHER, daemon_env


def _env(home: Path) -> dict[str, str]:
    return daemon_env(home)


def _wait_for_address(home: Path, proc: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        info = home / "daemon.json"
        if info.exists():
            data = json.loads(info.read_text())
            return f"http://{data['host']}:{data['port']}"
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.05)
    raise AssertionError("daemon never wrote daemon.json")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    home = tmp_path / "home"
    proc = subprocess.Popen(
        [*TETHER, "serve", "--port", "0"],
        env=_env(home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield home, _wait_for_address(home, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert not (home / "daemon.json").exists(), "daemon left its address file behind"


def test_serve_answers_api_and_page(daemon: tuple[Path, str], tmp_path: Path) -> None:
    home, url = daemon
    subprocess.run(
        [*TETHER, "project", "add", str(tmp_path), "--name", "demo"],
        env=_env(home),
        check=True,
        capture_output=True,
    )
    assert httpx.get(f"{url}/api/health").json()["status"] == "ok"
    assert httpx.get(f"{url}/api/projects").json()["items"][0]["name"] == "demo"
    assert httpx.get(f"{url}/api/sessions").json() == {"items": [], "next_cursor": None}
    page = httpx.get(f"{url}/")
    assert page.status_code == 200 and "tether" in page.text and "demo" in page.text


def test_second_serve_on_same_home_refuses(daemon: tuple[Path, str]) -> None:
    home, url = daemon
    second = subprocess.run(
        [*TETHER, "serve", "--port", "0"],
        env=_env(home),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1
    assert "already serving" in second.stderr and url.rsplit(":", 1)[1] in second.stderr
    assert "Traceback" not in second.stderr


def test_off_loopback_without_token_refuses(tmp_path: Path) -> None:
    result = subprocess.run(
        [*TETHER, "serve", "--host", "0.0.0.0", "--port", "0"],
        env=_env(tmp_path / "home"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "without a token" in result.stderr
